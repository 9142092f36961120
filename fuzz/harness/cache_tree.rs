//! The directory-tree attack harness, shared by the cargo-fuzz target `cache_tree` and the
//! stable replay `crates/kiln-cache/tests/tree_fuzz.rs` (both include this file by path).
//!
//! A cache with a few entries is built in a scratch directory beside an "outside" tree that
//! looks like a cache (two-hex dirs, 64-hex files, a private file). The input bytes, three per
//! step, pick a path of the cache (or a name kiln would create) and replace it with a link to
//! the outside tree, a FIFO, a huge sparse file, garbage, a directory, or change its mode or
//! owner. Then every cache operation runs on the mutated tree. Asserted: nothing returns
//! wrong code (a hit's artifact is the one stored for that key and guard), nothing outside
//! changes, and every call returns (a hang shows as a fuzzer timeout or a test that never
//! ends); panics and aborts fail by themselves.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_cache::{Cache, CacheConfig, CacheKey, Entry, EntryHeader, EntryMeta, Lookup};
use kiln_shape::{Cond, Expr, GuardSet, SymbolLookup};

const KEYS: u8 = 3;
const GUARDS: i64 = 2;
const MAX_SIZE: u64 = 64 << 10;
const MAX_STEPS: usize = 12;

fn header() -> EntryHeader {
    EntryHeader {
        format_version: 1,
        kiln_version: "fuzz".to_string(),
        backend: "cpu".to_string(),
        target: "x86_64".to_string(),
    }
}

fn key(k: u8) -> CacheKey {
    CacheKey([0x10 + k; 32])
}

fn artifact(k: u8, h: i64) -> Vec<u8> {
    format!("code of key {k} for H={h}").into_bytes()
}

fn entry(k: u8, h: i64) -> Entry {
    Entry {
        header: header(),
        key: key(k),
        guards: GuardSet::new(vec![Cond::eq(Expr::sym("H"), Expr::int(h))]),
        artifact: artifact(k, h),
        meta: EntryMeta {
            graph_name: "fuzz".to_string(),
            compile_ms: 0.0,
            created_unix_ms: 0,
            key_components: Vec::new(),
        },
    }
}

struct H(i64);

impl SymbolLookup for H {
    fn value(&self, name: &str) -> Option<i64> {
        (name == "H").then_some(self.0)
    }
}

fn scratch() -> PathBuf {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let n = RUN.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("kiln-tree-fuzz-{}-{n}", std::process::id()))
}

/// Every path under `dir` (not following links) with its metadata.
fn walk(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every path under `dir` with its mode, size and (for small regular files) bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, u64, Vec<u8>)> {
    walk(dir)
        .into_iter()
        .map(|(p, meta)| {
            let small = meta.is_file() && meta.len() <= 1 << 20;
            let bytes = if small {
                std::fs::read(&p).unwrap_or_default()
            } else {
                Vec::new()
            };
            (p, meta.mode(), meta.len(), bytes)
        })
        .collect()
}

fn outside_tree(base: &Path) -> PathBuf {
    let outside = base.join("outside");
    let key_dir = outside.join("ab").join(format!("ab{}", "0".repeat(62)));
    std::fs::create_dir_all(&key_dir).expect("outside tree");
    std::fs::write(outside.join("ab").join("a".repeat(64)), b"precious").expect("outside");
    std::fs::write(key_dir.join("b".repeat(64)), b"precious").expect("outside");
    std::fs::write(outside.join("secret"), b"private").expect("outside");
    outside
}

/// Paths of the cache worth mutating: what exists, and names kiln creates on demand.
fn targets(dir: &Path) -> Vec<PathBuf> {
    let v1 = dir.join("v1");
    let mut paths: Vec<PathBuf> = walk(dir).into_iter().map(|(p, _)| p).collect();
    for name in ["stats", "size", "stats.lock", "locks", ".tmp-stats-1"] {
        paths.push(v1.join(name));
    }
    let hex = key(0).to_string();
    let key_dir = v1.join(&hex[..2]).join(&hex);
    paths.push(key_dir.join(".guards.idx"));
    paths.push(key_dir.join("c".repeat(64)));
    let new = CacheKey([0xab; 32]).to_string();
    paths.push(v1.join(&new[..2]));
    paths.sort();
    paths.dedup();
    paths
}

/// Whether reaching `path` from `dir` would pass through a link planted by an earlier step
/// (the harness itself must not write outside).
fn reaches_through_link(dir: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(dir) else {
        return true;
    };
    let mut at = dir.to_path_buf();
    let mut parts: Vec<_> = rest.components().collect();
    parts.pop();
    parts.into_iter().any(|part| {
        at.push(part);
        std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
    })
}

fn remove_any(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => drop(std::fs::remove_dir_all(path)),
        Ok(_) => drop(std::fs::remove_file(path)),
        Err(_) => {}
    }
}

fn mkfifo(path: &Path) {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
    unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the harness may open `path` to write: opening a FIFO planted by an earlier step
/// would block the harness itself.
fn regular_or_absent(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .ok()
        .is_none_or(|m| m.is_file())
}

/// One step: what to do to `path`, chosen by `op` and `arg`.
fn mutate(path: &Path, op: u8, arg: u8, outside: &Path) {
    let links = [
        outside.to_path_buf(),
        outside.join("ab"),
        outside.join("secret"),
        PathBuf::from("/dev/zero"),
    ];
    match op % 8 {
        0 => {
            remove_any(path);
            let _ = std::os::unix::fs::symlink(&links[usize::from(arg) % links.len()], path);
        }
        1 => {
            remove_any(path);
            mkfifo(path);
        }
        2 => {
            let modes = [0o777, 0o755, 0o700, 0o000, 0o622, 0o666];
            let mode = modes[usize::from(arg) % modes.len()];
            // chmod follows a link: one planted by an earlier step would change the outside.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return;
            }
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
        }
        3 => {
            let len = [1u64 << 40, MAX_SIZE + 1, 3 << 30][usize::from(arg) % 3];
            if !regular_or_absent(path) {
                return;
            }
            if let Ok(file) = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
            {
                let _ = file.set_len(len);
            }
        }
        4 => {
            if !regular_or_absent(path) {
                return;
            }
            let _ = std::fs::write(path, vec![arg; usize::from(arg)]);
        }
        5 => remove_any(path),
        6 => {
            remove_any(path);
            let _ = std::fs::create_dir(path);
        }
        _ => {
            if is_root() {
                let _ = std::os::unix::fs::lchown(path, Some(65534), None);
            }
        }
    }
}

/// Every cache operation on the mutated tree; a hit must serve exactly what was stored.
fn exercise(dir: &Path) {
    let config = CacheConfig {
        dir: dir.to_path_buf(),
        max_size: MAX_SIZE,
        secret: None,
        secret_error: None,
        remote: None,
    };
    let Ok(cache) = Cache::open(config) else {
        return;
    };
    for k in 0..KEYS {
        for h in 0..=GUARDS {
            let values = H(h);
            let lookup = cache.get(&key(k), &header(), &mut |e: &Entry, _: &str| {
                e.guards.eval(&values).unwrap_or(false)
            });
            if let Lookup::Hit(found) = lookup {
                assert_eq!(found.artifact, artifact(k, h), "key {k}, H={h}: wrong code");
            }
        }
        let _ = cache.lock(&key(k));
        let _ = cache.put(&entry(k, GUARDS));
    }
    let _ = cache.list();
    let _ = cache.stats();
    let _ = cache.keys();
    let _ = cache.verify();
    let _ = cache.prune(MAX_SIZE / 2);
    let _ = cache.lifetime_counters();
    let _ = cache.flush_counters();
    let _ = cache.clear();
}

/// Makes every directory under `base` removable again, then removes it.
fn cleanup(base: &Path) {
    for (path, meta) in walk(base) {
        if meta.is_dir() {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
        }
    }
    let _ = std::fs::remove_dir_all(base);
}

pub fn run(data: &[u8]) {
    let base = scratch();
    let outside = outside_tree(&base);
    let dir = base.join("cache");
    {
        let config = CacheConfig {
            dir: dir.clone(),
            max_size: MAX_SIZE,
            secret: None,
            secret_error: None,
            remote: None,
        };
        let cache = Cache::open(config).expect("a fresh cache opens");
        for k in 0..KEYS {
            for h in 0..GUARDS {
                cache.put(&entry(k, h)).expect("a fresh cache stores");
            }
        }
    }
    let before = snapshot(&outside);
    let paths = targets(&dir);
    for step in data.chunks(3).take(MAX_STEPS) {
        let (op, which, arg) = (step[0], step.get(1).copied(), step.get(2).copied());
        let path = &paths[usize::from(which.unwrap_or(0)) % paths.len()];
        if !reaches_through_link(&dir, path) {
            mutate(path, op, arg.unwrap_or(0), &outside);
        }
    }
    exercise(&dir);
    let after = snapshot(&outside);
    cleanup(&base);
    assert!(after == before, "the cache changed files outside it");
}
