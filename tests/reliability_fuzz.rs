//! The stable-toolchain fallback of the cargo-fuzz targets in fuzz/ (which need nightly): the
//! three entry points that read untrusted bytes, on random and mutated inputs, must never
//! panic. Inputs come from proptest (random bytes, and mutations of real inputs: bit flips,
//! truncation, splices) plus the regression inputs in fuzz/regressions/. The file name given
//! to the entry decoder is the bytes' own content hash, so inputs reach the format, signature
//! and postcard checks as a forged file would. See doc/FUZZING.md.
mod reliability_support;

use std::sync::OnceLock;

use kiln_cache::{CacheKey, content_hash, decode, encode};
use kiln_shape::{Bindings, GuardSet};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const SECRET: &[u8] = b"fuzz-secret";

/// The cache entry decoder: whatever decodes re-encodes to an entry that decodes the same.
fn entry_decoder(data: &[u8]) {
    let name = content_hash(data);
    let key = CacheKey([0x5a; 32]);
    for secret in [None, Some(SECRET)] {
        if let Ok(entry) = decode(data, &name, &key, secret) {
            let (again_name, again) = encode(&entry, secret).expect("a decoded entry encodes");
            let back = decode(&again, &again_name, &key, secret).expect("re-encoded decodes");
            assert_eq!(back, entry);
        }
    }
}

/// The guard evaluator on a postcard guard set, values from the remaining bytes.
fn guard_evaluator(data: &[u8]) {
    let Ok((guards, rest)) = postcard::take_from_bytes::<GuardSet>(data) else {
        return;
    };
    let mut values = Bindings::new();
    let mut words = rest.chunks_exact(8);
    for symbol in guards.symbols() {
        let value = words
            .next()
            .and_then(|w| w.try_into().ok())
            .map_or(1, i64::from_le_bytes);
        values.insert(&symbol, value);
    }
    let verdict = guards.eval(&values);
    let failure = guards.first_failure(&values);
    assert_eq!(
        verdict == Ok(true),
        failure.is_none(),
        "eval and first_failure agree"
    );
    let _ = guards.to_string();
    let _ = failure.map(|f| f.to_string());
    let _ = guards.eval(&Bindings::new());
}

/// The `.kiln` parser: a graph that parses prints to text that parses to the same graph.
fn kiln_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(graph) = kiln_ir::parse(text) {
        let printed = kiln_ir::print(&graph);
        let again = kiln_ir::parse(&printed)
            .unwrap_or_else(|e| panic!("printed graph does not parse: {e}\n{printed}"));
        assert!(
            kiln_ir::print::same_structure(&graph, &again),
            "print/parse changed the graph:\n{printed}"
        );
    }
}

/// Real inputs to mutate: entry files and guard sets made by the driver, and `.kiln` texts.
struct Seeds {
    entries: Vec<Vec<u8>>,
    guards: Vec<Vec<u8>>,
    texts: Vec<Vec<u8>>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let compiler = kiln::Compiler::new(kiln::CompileOptions::default().cache_dir(dir.path()));
        let mut texts = Vec::new();
        for (i, (_, src)) in reliability_support::GRAPHS.iter().enumerate() {
            let f = compiler
                .compile(&reliability_support::graph(i))
                .expect("compile");
            for size in [1, 3] {
                let inputs = reliability_support::inputs_for(f.graph(), size, 1);
                reliability_support::run_and_check(&f, &inputs, "seed");
            }
            texts.push(src.as_bytes().to_vec());
        }
        let cache = compiler.cache().expect("cache");
        let mut entries = Vec::new();
        let mut guards = Vec::new();
        for key in cache.keys().expect("keys") {
            for entry in cache.entries_for(&key) {
                let mut with_values = postcard::to_allocvec(&entry.guards).expect("encode");
                with_values.extend_from_slice(&7i64.to_le_bytes());
                guards.push(with_values);
                entries.push(encode(&entry, None).expect("encode").1);
                entries.push(encode(&entry, Some(SECRET)).expect("encode").1);
            }
        }
        Seeds {
            entries,
            guards,
            texts,
        }
    })
}

/// A seed, mutated: bit flips, overwritten bytes, truncation, an inserted run, or a splice.
fn mutated(pool: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    (
        0..pool.len(),
        0..5u8,
        proptest::collection::vec(any::<u32>(), 1..8),
    )
        .prop_map(move |(index, how, points)| {
            let mut bytes = pool[index].clone();
            let at = |p: u32, len: usize| p as usize % len.max(1);
            match how {
                0 => {
                    for p in &points {
                        let i = at(*p, bytes.len());
                        if let Some(b) = bytes.get_mut(i) {
                            *b ^= 1 << (p % 8);
                        }
                    }
                }
                1 => {
                    for p in &points {
                        let i = at(*p >> 8, bytes.len());
                        if let Some(b) = bytes.get_mut(i) {
                            *b = *p as u8;
                        }
                    }
                }
                2 => bytes.truncate(at(points[0], bytes.len())),
                3 => {
                    let i = at(points[0], bytes.len());
                    let run: Vec<u8> = points.iter().map(|p| *p as u8).collect();
                    bytes.splice(i..i, run.iter().copied().cycle().take(run.len() * 4));
                }
                _ => {
                    let other = &pool[at(points[0], pool.len())];
                    let cut = at(points[0] >> 8, bytes.len());
                    let from = at(points[points.len() - 1], other.len());
                    bytes.truncate(cut);
                    bytes.extend_from_slice(&other[from..]);
                }
            }
            bytes
        })
}

fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

/// Runs `target` on `cases` inputs of `strategy`; proptest reports (and shrinks) a panic.
fn fuzz(cases: u32, strategy: impl Strategy<Value = Vec<u8>>, target: FuzzTarget) -> u32 {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |bytes| {
            target(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    cases
}

fn cases() -> u32 {
    if reliability_support::long_mode() {
        200_000
    } else {
        7_000
    }
}

#[test]
fn entry_decoder_never_panics() {
    let seeds = seeds();
    let n = fuzz(cases(), random_bytes(), entry_decoder)
        + fuzz(cases(), mutated(&seeds.entries), entry_decoder);
    eprintln!("fuzz fallback: {n} inputs through kiln_cache::decode");
}

#[test]
fn guard_evaluator_never_panics() {
    let seeds = seeds();
    let n = fuzz(cases(), random_bytes(), guard_evaluator)
        + fuzz(cases(), mutated(&seeds.guards), guard_evaluator);
    eprintln!("fuzz fallback: {n} inputs through GuardSet decode + eval");
}

#[test]
fn kiln_parser_never_panics() {
    let seeds = seeds();
    let n = fuzz(cases(), random_bytes(), kiln_parser)
        + fuzz(cases(), mutated(&seeds.texts), kiln_parser);
    eprintln!("fuzz fallback: {n} inputs through kiln_ir::parse");
}

type FuzzTarget = fn(&[u8]);

/// Inputs that once crashed a fuzz target (minimised by cargo fuzz), kept as regressions.
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets: [(&str, FuzzTarget); 3] = [
        ("cache_entry_decode", entry_decoder),
        ("guard_eval", guard_evaluator),
        ("kiln_parse", kiln_parser),
    ];
    let mut replayed = 0;
    for (name, target) in targets {
        let Ok(files) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for file in files.flatten() {
            let bytes = std::fs::read(file.path()).expect("read a regression input");
            target(&bytes);
            replayed += 1;
        }
    }
    eprintln!("fuzz regressions replayed: {replayed}");
}
