//! Damaged and foreign cache entries, through the whole driver with real machine code: every
//! region of an entry file is truncated, bit-flipped, zeroed or replaced with garbage, entries
//! of another key or another header are swapped in, then the function is reset and called
//! again. It must never hit on bad data: the damage is counted (`corrupt` or `stale`, or
//! `untrusted` for a well-formed entry without this secret's signature, which is kept), the
//! graph is recompiled, its outputs equal the interpreter's, and nothing panics.
//!
//! The same scenario runs unsigned in this process and signed (KILN_CACHE_SECRET) in a child
//! process, where the HMAC trailer is a region too and forged entries must be refused.
mod reliability_support;

use std::ops::Range;
use std::path::{Path, PathBuf};

use kiln::{CacheKey, CompileOptions, CompiledFunction, Compiler, Outcome, Tensor};
use kiln_cache::{Counters, Entry, decode, encode};
use reliability_support::*;

const SIGNED_ROLE: &str = "signed-corruption";
const SECRET: &[u8] = b"reliability-test-secret";

/// One function compiled through a cache, with the file of its single entry.
struct Subject {
    compiler: Compiler,
    function: CompiledFunction,
    inputs: Vec<Tensor>,
    shapes: Vec<Vec<i64>>,
    key: CacheKey,
    name: String,
    original: Vec<u8>,
    secret: Option<Vec<u8>>,
}

impl Subject {
    fn new(dir: &Path, secret: Option<&[u8]>) -> Subject {
        let compiler = Compiler::new(CompileOptions::default().cache_dir(dir));
        let graph = graph(0);
        let function = compiler.compile(&graph).expect("compile");
        let inputs = inputs_for(&graph, 5, 7);
        let shapes = shapes_of(&inputs);
        let report = function.prepare(&shapes).expect("prepare");
        assert_eq!(report.outcome, Outcome::Miss, "a fresh cache misses");
        run_and_check(&function, &inputs, "first compile");
        let key = report.key.expect("the cache was used");
        let files = entry_files(dir);
        assert_eq!(files.len(), 1, "one entry after one compile: {files:?}");
        let original = std::fs::read(&files[0]).expect("read the entry");
        let name = file_name(&files[0]);
        Subject {
            compiler,
            function,
            inputs,
            shapes,
            key,
            name,
            original,
            secret: secret.map(<[u8]>::to_vec),
        }
    }

    fn counters(&self) -> Counters {
        self.compiler.cache().expect("cache in use").counters()
    }

    fn key_dir(&self) -> PathBuf {
        key_dir(self.compiler.cache().expect("cache").dir(), &self.key)
    }

    fn decoded(&self) -> Entry {
        decode(
            &self.original,
            &self.name,
            &self.key,
            self.secret.as_deref(),
        )
        .expect("the original entry decodes")
    }

    /// Leaves exactly one file in the key directory: `bytes` under `name`.
    fn install(&self, name: &str, bytes: &[u8]) {
        let key_dir = self.key_dir();
        for file in entry_files(self.compiler.cache().expect("cache").dir()) {
            if file.parent() == Some(key_dir.as_path()) {
                std::fs::remove_file(&file).expect("remove an entry");
            }
        }
        std::fs::create_dir_all(&key_dir).expect("key dir");
        write_private(&key_dir.join(name), bytes);
    }

    /// Resets the function, calls it again, checks its outputs; returns the outcome.
    fn recompile(&self, what: &str) -> Outcome {
        self.function.reset();
        let report = self
            .function
            .prepare(&self.shapes)
            .unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
        run_and_check(&self.function, &self.inputs, what);
        report.outcome
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).expect("write a planted entry");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The byte ranges of an entry file, computed from its decoded fields: the body is postcard
/// of (header, key, guards, meta, artifact) in that order, after a 13-byte prefix.
fn regions(entry: &Entry, file_len: usize, signed: bool) -> Vec<(&'static str, Range<usize>)> {
    let encoded = |bytes: Vec<u8>| bytes.len();
    let header = encoded(postcard::to_allocvec(&entry.header).expect("encode"));
    let guards = encoded(postcard::to_allocvec(&entry.guards).expect("encode"));
    let meta = encoded(postcard::to_allocvec(&entry.meta).expect("encode"));
    let artifact = entry.artifact.len();
    let tag = if signed { 32 } else { 0 };
    let length_prefix = file_len - tag - artifact - (13 + header + 32 + guards + meta);
    let third = artifact / 3;
    let sizes = [
        ("magic", 8),
        ("format", 4),
        ("flags", 1),
        ("header", header),
        ("key", 32),
        ("guards", guards),
        ("meta", meta),
        ("artifact length", length_prefix),
        ("artifact start", third),
        ("artifact middle", third),
        ("artifact end", artifact - 2 * third),
        ("hmac tag", tag),
    ];
    let mut at = 0;
    let mut regions = Vec::new();
    for (name, size) in sizes {
        if size > 0 {
            regions.push((name, at..at + size));
        }
        at += size;
    }
    assert_eq!(at, file_len, "regions cover the file: {regions:?}");
    regions
}

/// Every damage applied to `range` of `bytes`, named.
fn damages(bytes: &[u8], region: &str, range: &Range<usize>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let last = range.end - 1;
    let middle = range.start + (range.end - range.start) / 2;
    for (label, at, bit) in [
        ("flip first bit", range.start, 0),
        ("flip middle bit", middle, 3),
        ("flip last bit", last, 7),
    ] {
        let mut damaged = bytes.to_vec();
        damaged[at] ^= 1 << bit;
        out.push((format!("{region}: {label}"), damaged));
    }
    let mut zeroed = bytes.to_vec();
    zeroed[range.clone()].fill(0);
    out.push((format!("{region}: zeroed"), zeroed));
    let mut garbage = bytes.to_vec();
    let mut rng = Rng(0x5EED ^ range.start as u64);
    for b in &mut garbage[range.clone()] {
        *b = rng.next() as u8;
    }
    out.push((format!("{region}: garbage"), garbage));
    out.push((
        format!("{region}: truncated at its start"),
        bytes[..range.start].to_vec(),
    ));
    out.push((
        format!("{region}: truncated in its middle"),
        bytes[..middle].to_vec(),
    ));
    let mut cut = bytes.to_vec();
    cut.drain(range.clone());
    out.push((format!("{region}: removed"), cut));
    out.retain(|(_, damaged)| damaged != bytes);
    out
}

fn whole_file_damages(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut doubled = bytes.to_vec();
    doubled.extend_from_slice(bytes);
    let mut appended = bytes.to_vec();
    appended.extend_from_slice(&[0xAB; 64]);
    vec![
        ("empty file".to_string(), Vec::new()),
        ("one byte".to_string(), bytes[..1].to_vec()),
        ("appended garbage".to_string(), appended),
        ("the file twice".to_string(), doubled),
        ("all zeros".to_string(), vec![0; bytes.len()]),
    ]
}

#[derive(Default)]
struct Tally {
    tried: usize,
    corrupt: u64,
    stale: u64,
    untrusted: u64,
    recompiled: usize,
}

/// Damaged bytes under the original name (what a disk or a torn copy does): always a hash
/// mismatch, counted corrupt, removed, recompiled.
fn damage_in_place(subject: &Subject, cases: &[(String, Vec<u8>)], tally: &mut Tally) {
    for (what, damaged) in cases {
        subject.install(&subject.name, damaged);
        let before = subject.counters();
        let outcome = subject.recompile(what);
        let after = subject.counters();
        assert_eq!(outcome, Outcome::Miss, "{what}: damaged entry must not hit");
        assert_eq!(after.corrupt, before.corrupt + 1, "{what}: counted corrupt");
        let left = std::fs::read(subject.key_dir().join(&subject.name)).ok();
        assert!(
            left.as_ref() != Some(damaged),
            "{what}: the damaged file is removed"
        );
        tally.tried += 1;
        tally.corrupt += after.corrupt - before.corrupt;
        tally.recompiled += 1;
    }
}

/// Damaged bytes renamed to their new content hash (only a forger does that): the format,
/// decoding, key, header or signature checks must refuse them, or, where the damage leaves a
/// well-formed entry (meta), the outputs must still be right.
fn damage_rehashed(subject: &Subject, cases: &[(String, Vec<u8>)], tally: &mut Tally) {
    for (what, damaged) in cases {
        let name = kiln_cache::content_hash(damaged);
        subject.install(&name, damaged);
        let before = subject.counters();
        let outcome = subject.recompile(&format!("rehashed {what}"));
        let after = subject.counters();
        // A forger's bytes that lack this secret's signature are `untrusted` (issue 14.9).
        let refused = (after.corrupt - before.corrupt)
            + (after.stale - before.stale)
            + (after.untrusted - before.untrusted);
        if outcome == Outcome::Hit {
            // Served: then it decoded to an entry the driver accepted and loaded, and the
            // outputs were checked above. Only meta (facts for people) may be damaged so.
            assert!(
                what.starts_with("meta") || what.starts_with("guards"),
                "rehashed {what}: a damaged entry was served"
            );
        } else {
            assert!(
                refused == 1 || outcome == Outcome::GuardMiss,
                "rehashed {what}: neither refused nor guard-missed ({outcome:?})"
            );
        }
        tally.tried += 1;
        tally.corrupt += after.corrupt - before.corrupt;
        tally.stale += after.stale - before.stale;
        tally.untrusted += after.untrusted - before.untrusted;
        tally.recompiled += usize::from(outcome != Outcome::Hit);
    }
}

/// Entries that are well formed but not ours: another key's, another header's, another
/// compile option's, and forged ones.
fn foreign_entries(subject: &Subject, dir: &Path, tally: &mut Tally) {
    let secret = subject.secret.as_deref();
    // Another key's entry (another graph) copied into our key directory.
    let other = Compiler::new(CompileOptions::default().cache_dir(dir));
    let softmax = other.compile(&graph(1)).expect("compile");
    let inputs = inputs_for(&graph(1), 4, 3);
    run_and_check(&softmax, &inputs, "softmax");
    let other_key = softmax.last_report().and_then(|r| r.key).expect("key");
    let other_file = entry_files(dir)
        .into_iter()
        .find(|p| p.parent() == Some(key_dir(dir, &other_key).as_path()))
        .expect("the other key's entry");
    let other_bytes = std::fs::read(&other_file).expect("read");
    refused_once(
        subject,
        &file_name(&other_file),
        &other_bytes,
        "corrupt",
        "another key's entry",
        tally,
    );

    // Our entry, re-encoded with another target in its header: skipped as stale and kept.
    let mut entry = subject.decoded();
    entry.header.target = "riscv64-imaginary".to_string();
    let (name, bytes) = encode(&entry, secret).expect("encode");
    refused_once(
        subject,
        &name,
        &bytes,
        "stale",
        "another header's entry",
        tally,
    );
    assert!(
        subject.key_dir().join(&name).exists(),
        "a stale entry is kept for its build"
    );
    let before = subject.counters();
    assert_eq!(subject.recompile("after stale"), Outcome::Hit);
    // The walk stops at the first accepted entry: the stale one is skipped again only when
    // its name sorts first.
    assert!(
        subject.counters().stale <= before.stale + 1,
        "skipped as stale, never served"
    );

    // The same graph and shapes compiled with another index_limit: another key.
    let limited_dir = tempfile::tempdir().expect("tempdir");
    let limited = Compiler::new(
        CompileOptions::default()
            .cache_dir(limited_dir.path())
            .index_limit(16),
    );
    let f = limited.compile(subject.function.graph()).expect("compile");
    run_and_check(&f, &subject.inputs, "index_limit 16");
    let limited_file = entry_files(limited_dir.path()).pop().expect("entry");
    let limited_bytes = std::fs::read(&limited_file).expect("read");
    refused_once(
        subject,
        &file_name(&limited_file),
        &limited_bytes,
        "corrupt",
        "an entry of another index_limit",
        tally,
    );

    // That entry re-keyed to ours (a forgery). Without a secret the content hash cannot tell
    // (it is still code for this graph, so the outputs are right); with one it is refused.
    let mut forged = decode(
        &limited_bytes,
        &file_name(&limited_file),
        &f.last_report().and_then(|r| r.key).expect("key"),
        secret,
    )
    .expect("decode the other entry");
    forged.key = subject.key;
    let (name, bytes) = encode(&forged, Some(b"not the secret")).expect("encode");
    if secret.is_some() {
        refused_once(
            subject,
            &name,
            &bytes,
            "untrusted",
            "a re-keyed entry with a wrong signature",
            tally,
        );
    }
    let (name, bytes) = encode(&forged, None).expect("encode");
    if secret.is_some() {
        refused_once(
            subject,
            &name,
            &bytes,
            "untrusted",
            "a re-keyed unsigned entry",
            tally,
        );
    } else {
        subject.install(&name, &bytes);
        let outcome = subject.recompile("a re-keyed entry of another index_limit");
        assert_eq!(
            outcome,
            Outcome::Hit,
            "unsigned forgeries are indistinguishable"
        );
        tally.tried += 1;
    }

    // A well-formed entry whose artifact is garbage or of another kiln-cpu: the backend
    // refuses to load it, the driver recompiles. (It is not counted corrupt: see the report.)
    let mut garbage = subject.decoded();
    garbage.artifact = b"definitely not machine code".repeat(8);
    let mut other_cpu = subject.decoded();
    let mut artifact: kiln_cpu::CpuArtifact =
        postcard::from_bytes(&other_cpu.artifact).expect("the artifact decodes");
    artifact.kiln_cpu_version = "0.0.0-elsewhere".to_string();
    other_cpu.artifact = postcard::to_allocvec(&artifact).expect("encode");
    for (what, entry) in [
        ("a garbage artifact", garbage),
        ("another kiln-cpu's artifact", other_cpu),
    ] {
        let (name, bytes) = encode(&entry, secret).expect("encode");
        subject.install(&name, &bytes);
        let outcome = subject.recompile(what);
        assert_eq!(
            outcome,
            Outcome::GuardMiss,
            "{what}: refused by the backend, recompiled"
        );
        tally.tried += 1;
        tally.recompiled += 1;
    }
}

/// Installs one file, recompiles, and checks it was refused exactly once as `counter`.
fn refused_once(
    subject: &Subject,
    name: &str,
    bytes: &[u8],
    counter: &str,
    what: &str,
    tally: &mut Tally,
) {
    subject.install(name, bytes);
    let before = subject.counters();
    let outcome = subject.recompile(what);
    let after = subject.counters();
    assert_eq!(outcome, Outcome::Miss, "{what}: must not hit");
    let counts = (
        after.corrupt - before.corrupt,
        after.stale - before.stale,
        after.untrusted - before.untrusted,
    );
    match counter {
        "corrupt" => assert_eq!(counts, (1, 0, 0), "{what}: counted corrupt"),
        "untrusted" => assert_eq!(counts, (0, 0, 1), "{what}: counted untrusted"),
        _ => assert_eq!(counts, (0, 1, 0), "{what}: counted stale"),
    }
    tally.tried += 1;
    tally.corrupt += counts.0;
    tally.stale += counts.1;
    tally.untrusted += counts.2;
    tally.recompiled += 1;
}

fn scenario(secret: Option<&[u8]>) -> Tally {
    let dir = tempfile::tempdir().expect("tempdir");
    let subject = Subject::new(dir.path(), secret);
    let entry = subject.decoded();
    let regions = regions(&entry, subject.original.len(), secret.is_some());
    let mut tally = Tally::default();
    let mut in_place = whole_file_damages(&subject.original);
    let mut rehashed = Vec::new();
    for (region, range) in &regions {
        let cases = damages(&subject.original, region, range);
        // Rehashed damage to the artifact (its program and machine code) is a forgery the
        // content hash cannot see without a secret: only the signed run tries it. (Unsigned,
        // a flipped symbol name in the program loads and then fails at run: see the report.)
        let code = region.starts_with("artifact ") && *region != "artifact length";
        if secret.is_some() || !code {
            rehashed.extend(cases.iter().cloned());
        }
        in_place.extend(cases);
    }
    damage_in_place(&subject, &in_place, &mut tally);
    damage_rehashed(&subject, &rehashed, &mut tally);
    foreign_entries(&subject, dir.path(), &mut tally);
    // After all of it the cache serves again.
    let files = entry_files(dir.path());
    assert!(!files.is_empty());
    assert_eq!(subject.recompile("final"), Outcome::Hit);
    eprintln!(
        "corruption ({}): {} regions, {} damaged or foreign entries tried ({} in place, {} \
         rehashed), counted corrupt {}, stale {}, untrusted {}, recompiled {}; never served \
         bad data",
        if secret.is_some() {
            "signed"
        } else {
            "unsigned"
        },
        regions.len(),
        tally.tried,
        in_place.len(),
        rehashed.len(),
        tally.corrupt,
        tally.stale,
        tally.untrusted,
        tally.recompiled
    );
    tally
}

#[test]
fn damaged_entries_are_never_served_unsigned() {
    if child_role().is_some() {
        return;
    }
    let tally = scenario(None);
    assert!(tally.tried > 50);
}

/// Child mode: the scenario with KILN_CACHE_SECRET set (only in the child's environment).
#[test]
fn child_signed_corruption() {
    if child_role().as_deref() != Some(SIGNED_ROLE) {
        return;
    }
    let tally = scenario(Some(SECRET));
    assert!(tally.tried > 50);
}

#[test]
fn damaged_entries_are_never_served_signed() {
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["child_signed_corruption", "--exact", "--nocapture"])
        .env(CHILD_ROLE, SIGNED_ROLE)
        .env(CHILD_DIR, dir.path())
        .env(
            "KILN_CACHE_SECRET",
            std::str::from_utf8(SECRET).expect("ascii"),
        )
        .output()
        .expect("run the signed child");
    expect_success(&child, "signed corruption child");
    let stderr = String::from_utf8_lossy(&child.stderr);
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("corruption (signed)"))
        .unwrap_or_else(|| panic!("the child ran the scenario:\n{stderr}"));
    eprintln!("{summary}");
}
