//! The per-key guard index: a lookup reads only the entry whose guards hold, yet a damaged
//! entry or a lying index is never served, and a missing index only costs the slow path.
mod common;

use common::*;
use kiln_cache::{
    Cache, CacheKey, DiskStorage, Entry, Lookup, SaveOutcome, Storage, StorageError, StoredFile,
};
use kiln_shape::GuardSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The disk level, counting entry reads.
struct Counting {
    disk: DiskStorage,
    reads: Arc<AtomicUsize>,
}

impl Storage for Counting {
    fn location(&self) -> String {
        self.disk.location()
    }
    fn entry_names(&self, key: &CacheKey) -> Result<Vec<String>, StorageError> {
        self.disk.entry_names(key)
    }
    fn read(&self, key: &CacheKey, name: &str) -> Result<Vec<u8>, StorageError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.disk.read(key, name)
    }
    fn read_index(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.disk.read_index(key)
    }
    fn write_index(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), StorageError> {
        self.disk.write_index(key, bytes)
    }
    fn save(&self, key: &CacheKey, name: &str, bytes: &[u8]) -> Result<SaveOutcome, StorageError> {
        self.disk.save(key, name, bytes)
    }
    fn touch(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        self.disk.touch(key, name)
    }
    fn remove(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        self.disk.remove(key, name)
    }
    fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        self.disk.list()
    }
    fn clear(&self) -> Result<(), StorageError> {
        self.disk.clear()
    }
}

fn counting(dir: &Path) -> (Cache, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let storage = Counting {
        disk: DiskStorage::new(dir.join("v1")),
        reads: reads.clone(),
    };
    let cache = Cache::with_storage(config(dir), Box::new(storage)).unwrap();
    (cache, reads)
}

/// A lookup as the driver makes it: guards first, then the loaded entry.
fn get_guarded_h(cache: &Cache, key: &CacheKey, h: i64) -> Lookup {
    let values = Values(vec![("H", h)]);
    let holds = |g: &GuardSet| g.eval(&values).unwrap_or(false);
    cache.get_guarded(
        key,
        &header(),
        &mut |g| holds(g),
        &mut |e: &Entry, _: &str| holds(&e.guards),
    )
}

fn index_path(dir: &Path, key: &CacheKey) -> PathBuf {
    key_dir(dir, key).join(".guards.idx")
}

/// The file of the entry valid for `H == h`.
fn file_of(cache: &Cache, dir: &Path, key: &CacheKey, h: i64) -> PathBuf {
    let position = cache
        .entries_for(key)
        .into_iter()
        .position(|e| e.guards == guards_h(h))
        .unwrap();
    entry_files(dir, key)[position].clone()
}

#[test]
fn a_hit_reads_only_the_entry_whose_guards_hold() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let (cache, reads) = counting(dir.path());
    for h in 0..100 {
        cache.put(&entry(k, h)).unwrap();
    }
    assert!(index_path(dir.path(), &k).is_file());
    for h in [0, 57, 99] {
        reads.store(0, Ordering::Relaxed);
        let artifact = hit_artifact(get_guarded_h(&cache, &k, h)).expect("a hit");
        assert!(artifact.starts_with(format!("code for H={h:04};").as_bytes()));
        assert_eq!(reads.load(Ordering::Relaxed), 1, "H={h}: one entry read");
    }
    reads.store(0, Ordering::Relaxed);
    assert!(matches!(
        get_guarded_h(&cache, &k, 1000),
        Lookup::GuardMiss { entries: 100 }
    ));
    assert_eq!(
        reads.load(Ordering::Relaxed),
        0,
        "no guard holds: nothing read"
    );
    // The plain lookup still verifies every entry it walks and finds the same.
    assert!(hit_artifact(get_h(&cache, &k, 99)).is_some());
}

#[test]
fn a_damaged_admitted_entry_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(2);
    let (cache, _) = counting(dir.path());
    for h in 0..5 {
        cache.put(&entry(k, h)).unwrap();
    }
    // The file of H=3 now holds H=4's bytes: valid content, wrong name.
    let (three, four) = (
        file_of(&cache, dir.path(), &k, 3),
        file_of(&cache, dir.path(), &k, 4),
    );
    std::fs::copy(&four, &three).unwrap();
    assert!(matches!(
        get_guarded_h(&cache, &k, 3),
        Lookup::GuardMiss { entries: 4 }
    ));
    assert_eq!(cache.counters().corrupt, 1);
    assert!(!three.exists(), "the refused file is removed");

    // A flipped bit in an admitted entry's artifact.
    let two = file_of(&cache, dir.path(), &k, 2);
    let mut bytes = std::fs::read(&two).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&two, bytes).unwrap();
    assert!(hit_artifact(get_guarded_h(&cache, &k, 2)).is_none());
    assert_eq!(cache.counters().corrupt, 2);
    assert!(hit_artifact(get_guarded_h(&cache, &k, 4)).is_some());
}

#[test]
fn a_lying_index_never_serves_an_entry_whose_guards_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (k, other) = (key(3), key(4));
    let cache = open(dir.path());
    cache.put(&entry(k, 7)).unwrap();
    // Another key's index claims H == 8 for a file that really is H == 7.
    cache.put(&entry(other, 8)).unwrap();
    let claimed = std::fs::read(index_path(dir.path(), &other)).unwrap();
    let mine = entry_files(dir.path(), &k)[0]
        .file_name()
        .unwrap()
        .to_owned();
    let theirs = entry_files(dir.path(), &other)[0]
        .file_name()
        .unwrap()
        .to_owned();
    let forged =
        String::from_utf8_lossy(&claimed).replace(theirs.to_str().unwrap(), mine.to_str().unwrap());
    assert_ne!(
        forged.as_bytes(),
        claimed.as_slice(),
        "the index names its entry"
    );
    std::fs::write(index_path(dir.path(), &k), forged.as_bytes()).unwrap();

    let cache = open(dir.path());
    assert!(matches!(
        get_guarded_h(&cache, &k, 8),
        Lookup::GuardMiss { entries: 1 }
    ));
    // The lie can only hide the entry (a miss); the recompiled entry's put repairs the index.
    assert!(hit_artifact(get_guarded_h(&cache, &k, 7)).is_none());
    cache.put(&entry(k, 7)).unwrap();
    assert!(hit_artifact(get_guarded_h(&cache, &k, 7)).is_some());
}

#[test]
fn a_missing_or_damaged_index_costs_only_the_slow_path() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(5);
    let (cache, reads) = counting(dir.path());
    for h in 0..10 {
        cache.put(&entry(k, h)).unwrap();
    }
    let index = index_path(dir.path(), &k);
    for damage in [None, Some(b"KILNGIDX garbage".to_vec())] {
        match &damage {
            None => std::fs::remove_file(&index).unwrap(),
            Some(bytes) => std::fs::write(&index, bytes).unwrap(),
        }
        reads.store(0, Ordering::Relaxed);
        assert!(matches!(
            get_guarded_h(&cache, &k, 10),
            Lookup::GuardMiss { entries: 10 }
        ));
        assert_eq!(reads.load(Ordering::Relaxed), 10, "every entry read once");
        // The walk rewrote the index: the next lookup reads one entry.
        reads.store(0, Ordering::Relaxed);
        assert!(hit_artifact(get_guarded_h(&cache, &k, 9)).is_some());
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }
    assert_eq!(
        cache.counters().corrupt,
        0,
        "a bad index is not a bad entry"
    );
}

#[test]
fn removing_the_last_entry_removes_the_key_directory_and_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(6);
    let cache = open(dir.path());
    cache.put(&entry(k, 1)).unwrap();
    let file = entry_files(dir.path(), &k)[0].clone();
    std::fs::write(&file, b"damaged").unwrap();
    assert!(matches!(get_guarded_h(&cache, &k, 1), Lookup::Miss));
    assert!(!key_dir(dir.path(), &k).exists());
    assert!(cache.keys().unwrap().is_empty());
}
