//! Shared test fixtures: entries with real guard sets, caches in temporary directories.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use kiln_cache::{Cache, CacheConfig, CacheKey, Entry, EntryHeader, EntryMeta, Lookup};
use kiln_shape::{Cond, Expr, GuardSet, SymbolLookup};
use std::path::{Path, PathBuf};

pub fn header() -> EntryHeader {
    EntryHeader {
        format_version: 3,
        kiln_version: "0.1.0".to_string(),
        backend: "cpu".to_string(),
        target: "x86_64".to_string(),
    }
}

pub fn key(byte: u8) -> CacheKey {
    CacheKey([byte; 32])
}

/// Valid when `H == h`.
pub fn guards_h(h: i64) -> GuardSet {
    GuardSet::new(vec![Cond::eq(Expr::sym("H"), Expr::int(h))])
}

/// An entry for `key`, valid when `H == h`, whose artifact names `h`.
pub fn entry(key: CacheKey, h: i64) -> Entry {
    entry_sized(key, h, 64)
}

pub fn entry_sized(key: CacheKey, h: i64, artifact_len: usize) -> Entry {
    let mut artifact = format!("code for H={h:04};").into_bytes();
    artifact.resize(artifact_len.max(artifact.len()), 0xC3);
    Entry {
        header: header(),
        key,
        guards: guards_h(h),
        artifact,
        meta: EntryMeta {
            graph_name: format!("graph_h{h:04}"),
            compile_ms: 1.5,
            created_unix_ms: 1_700_000_000_000,
            key_components: vec![("graph".to_string(), "x+x".to_string())],
        },
    }
}

pub struct Values(pub Vec<(&'static str, i64)>);

impl SymbolLookup for Values {
    fn value(&self, name: &str) -> Option<i64> {
        self.0.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
    }
}

pub fn config(dir: &Path) -> CacheConfig {
    CacheConfig {
        dir: dir.to_path_buf(),
        max_size: 1 << 30,
        secret: None,
        secret_error: None,
        remote: None,
    }
}

pub fn open(dir: &Path) -> Cache {
    Cache::open(config(dir)).expect("open cache")
}

/// A lookup as the driver does it: accept the entry whose guards hold for `H == h`.
pub fn get_h(cache: &Cache, key: &CacheKey, h: i64) -> Lookup {
    let values = Values(vec![("H", h)]);
    cache.get(key, &header(), &mut |e: &Entry, _: &str| {
        e.guards.eval(&values).unwrap_or(false)
    })
}

pub fn hit_artifact(lookup: Lookup) -> Option<Vec<u8>> {
    match lookup {
        Lookup::Hit(entry) => Some(entry.artifact),
        _ => None,
    }
}

/// Paths of the entry files of `key` under a cache `dir`, sorted.
pub fn entry_files(dir: &Path, key: &CacheKey) -> Vec<PathBuf> {
    let hex = key.to_string();
    let key_dir = dir.join("v1").join(&hex[..2]).join(&hex);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&key_dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

pub fn key_dir(dir: &Path, key: &CacheKey) -> PathBuf {
    let hex = key.to_string();
    dir.join("v1").join(&hex[..2]).join(&hex)
}
