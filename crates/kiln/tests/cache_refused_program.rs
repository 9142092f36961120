//! Entries whose program does not fit their guards (issue 13, items 8 and 9), replayed as an
//! attacker who can write the cache would: the entry is decoded, its guards weakened, and it
//! is re-encoded so that its file name (the content hash) matches again. The launcher must
//! refuse it before any kernel runs, the driver must discard it and recompile, and every
//! result must be what a cache-less compile gives.
mod cache_support;

use std::path::{Path, PathBuf};

use cache_support::*;
use kiln::{CacheKey, DType, DynamicPolicy, Outcome, Tensor};
use kiln_cache::{Entry, decode, encode};
use kiln_shape::GuardSet;

const BROADCAST: &str = "graph broadcast
input x: DT[N]
input y: DT[M]
z = add(x, y)
output z
";

fn key_dir(dir: &Path, key: &CacheKey) -> PathBuf {
    let key = key.to_string();
    dir.join("v1").join(&key[..2]).join(&key)
}

fn read_entry(path: &Path, key: &CacheKey) -> Entry {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    decode(&bytes, name, key, None).expect("the stored entry decodes")
}

/// Writes `entry` under `key`'s directory with its content-hash name (as `put` would), and
/// drops the key's guard index so the planted name is read.
fn plant(dir: &Path, entry: &Entry) -> PathBuf {
    let (name, bytes) = encode(entry, None).expect("encodes");
    let kdir = key_dir(dir, &entry.key);
    std::fs::create_dir_all(&kdir).unwrap();
    let _ = std::fs::remove_file(kdir.join(".guards.idx"));
    let path = kdir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn vector(n: usize, seed: u64) -> Tensor {
    data(DType::F32, &[n], seed)
}

#[test]
fn a_broadcast_entry_without_its_equality_guard_is_refused_not_read_out_of_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(BROADCAST, DType::F32);
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&g).unwrap();
    let (x, y) = (vector(64, 1), vector(64, 2));
    let report = f.prepare(&shapes_of(&[&x, &y])).unwrap();
    let key = report.key.expect("cached");
    let files = entry_files(dir.path());
    assert_eq!(files.len(), 1);
    let mut entry = read_entry(&files[0], &key);
    let all = entry.guards.conds().len();
    let weakened: Vec<_> = entry
        .guards
        .conds()
        .iter()
        .filter(|c| !(c.symbols().contains("M") && c.symbols().contains("N")))
        .cloned()
        .collect();
    assert!(
        weakened.len() < all,
        "the entry had a guard tying M to N: {}",
        entry.guards
    );
    entry.guards = GuardSet::new(weakened);
    std::fs::remove_file(&files[0]).unwrap();
    let planted = plant(dir.path(), &entry);

    // A fresh process's view: a different M under the same key hits the weakened entry. The
    // program's kernels would read 64 elements of the 16-element y: refused and discarded,
    // and the call gives what a cache-less compile gives (a broadcast error).
    f.reset();
    let short = vector(16, 3);
    let err = f
        .run(&[&x, &short])
        .expect_err("64 and 16 do not broadcast");
    let uncached = kiln::Compiler::new(kiln::CompileOptions::default().no_cache());
    let plain = uncached
        .compile(&g)
        .unwrap()
        .run(&[&x, &short])
        .unwrap_err();
    assert_eq!(err.to_string(), plain.to_string());
    assert!(!planted.exists(), "the refused entry was removed");
    assert_eq!(c.cache().unwrap().counters().corrupt, 1);

    let out = f.run(&[&x, &y]).unwrap();
    assert_matches_reference(&g, &[&x, &y], &out);
}

#[test]
fn a_weakened_entry_already_in_memory_is_dropped_when_a_later_call_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(BROADCAST, DType::F32);
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&g).unwrap();
    let (x, y) = (vector(64, 1), vector(64, 2));
    let key = f.prepare(&shapes_of(&[&x, &y])).unwrap().key.unwrap();
    let files = entry_files(dir.path());
    let mut entry = read_entry(&files[0], &key);
    entry.guards = GuardSet::new(Vec::new());
    std::fs::remove_file(&files[0]).unwrap();
    let planted = plant(dir.path(), &entry);

    f.reset();
    let out = f.run(&[&x, &y]).unwrap();
    assert_eq!(
        f.last_report().unwrap().outcome,
        Outcome::Hit,
        "fits its sizes"
    );
    assert_matches_reference(&g, &[&x, &y], &out);
    // The in-memory specialisation (no guards left) admits any sizes; its launcher refuses.
    let (big, short) = (vector(4096, 4), vector(16, 5));
    assert!(
        f.run(&[&big, &short]).is_err(),
        "4096 and 16 do not broadcast"
    );
    assert!(!planted.exists(), "the refusing entry was removed");
    assert_eq!(c.cache().unwrap().counters().corrupt, 1);
    let (big_y, mut outs) = (vector(4096, 6), vec![Tensor::zeros(DType::F32, &[4096])]);
    f.run_into(&[&big, &big_y], &mut outs).unwrap();
    assert_matches_reference(&g, &[&big, &big_y], &outs);
}

#[test]
fn a_static_entry_planted_under_another_key_is_discarded_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(
        "graph r\ninput x: DT[N]\ny = relu(x)\noutput y\n",
        DType::F32,
    );
    let c = compiler(dir.path(), DynamicPolicy::Static);
    let f = c.compile(&g).unwrap();
    let x8 = vector(8, 1);
    let key8 = f.prepare(&shapes_of(&[&x8])).unwrap().key.unwrap();
    let eight = entry_files(dir.path());
    assert_eq!(eight.len(), 1);
    let x5 = vector(5, 2);
    let key5 = f.prepare(&shapes_of(&[&x5])).unwrap().key.unwrap();
    assert_ne!(key5, key8, "static sizes are in the key");
    kiln::flush_pending_stores();
    std::fs::remove_dir_all(key_dir(dir.path(), &key5)).unwrap();
    let mut entry = read_entry(&eight[0], &key8);
    entry.key = key5;
    entry.guards = GuardSet::new(Vec::new());
    let planted = plant(dir.path(), &entry);

    f.reset();
    let out = f
        .run(&[&x5])
        .expect("the planted entry is refused, the graph recompiled");
    let outcome = f.last_report().unwrap().outcome;
    assert_eq!(
        outcome,
        Outcome::GuardMiss,
        "the planted entry was a candidate, refused"
    );
    assert_matches_reference(&g, &[&x5], &out);
    assert!(!planted.exists(), "the planted entry was removed");
    assert_eq!(c.cache().unwrap().counters().corrupt, 1);
    f.reset();
    let again = f.run(&[&x5]).unwrap();
    assert_eq!(
        f.last_report().unwrap().outcome,
        Outcome::Hit,
        "the recompiled entry"
    );
    assert_eq!(again, out);
}
