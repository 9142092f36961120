//! Faults never fail a compile: get degrades to a counted miss, put to a typed, counted error.
mod common;

use common::*;
use kiln_cache::{
    Cache, CacheError, CacheKey, Lookup, SaveOutcome, Storage, StorageError, StoredFile,
    WriteFailure,
};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A storage level where every operation fails.
struct Broken {
    calls: AtomicUsize,
}

impl Broken {
    fn fail(&self) -> StorageError {
        self.calls.fetch_add(1, Ordering::Relaxed);
        StorageError::io(
            "test://broken",
            "reach",
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        )
    }
}

impl Storage for Broken {
    fn location(&self) -> String {
        "test://broken".to_string()
    }
    fn entry_names(&self, _: &CacheKey) -> Result<Vec<String>, StorageError> {
        Err(self.fail())
    }
    fn read(&self, _: &CacheKey, _: &str) -> Result<Vec<u8>, StorageError> {
        Err(self.fail())
    }
    fn save(&self, _: &CacheKey, _: &str, _: &[u8]) -> Result<SaveOutcome, StorageError> {
        Err(self.fail())
    }
    fn touch(&self, _: &CacheKey, _: &str) -> Result<(), StorageError> {
        Err(self.fail())
    }
    fn remove(&self, _: &CacheKey, _: &str) -> Result<(), StorageError> {
        Err(self.fail())
    }
    fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        Err(self.fail())
    }
    fn clear(&self) -> Result<(), StorageError> {
        Err(self.fail())
    }
}

/// Lists one entry, then fails to read it.
struct Unreadable;

impl Storage for Unreadable {
    fn location(&self) -> String {
        "test://unreadable".to_string()
    }
    fn entry_names(&self, _: &CacheKey) -> Result<Vec<String>, StorageError> {
        Ok(vec!["ab".repeat(32)])
    }
    fn read(&self, _: &CacheKey, _: &str) -> Result<Vec<u8>, StorageError> {
        Err(StorageError::io(
            "test://unreadable",
            "read",
            std::io::Error::other("EIO"),
        ))
    }
    fn save(&self, _: &CacheKey, _: &str, _: &[u8]) -> Result<SaveOutcome, StorageError> {
        Ok(SaveOutcome::Stored { total_bytes: None })
    }
    fn touch(&self, _: &CacheKey, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
    fn remove(&self, _: &CacheKey, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
    fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        Ok(Vec::new())
    }
    fn clear(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[test]
fn failing_storage_degrades_to_counted_misses_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broken = Broken {
        calls: AtomicUsize::new(0),
    };
    let cache = Cache::with_storage(config(dir.path()), Box::new(broken)).unwrap();
    assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Miss));
    let error = cache.put(&entry(key(1), 8)).unwrap_err();
    assert!(
        matches!(
            error,
            CacheError::Write {
                failure: WriteFailure::NoSpace,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("test://broken"), "{error}");
    assert!(cache.list().is_err() && cache.clear().is_err() && cache.verify().is_err());
    assert!(cache.entries_for(&key(1)).is_empty());
    let counters = cache.counters();
    assert_eq!(
        (counters.miss, counters.read_error, counters.write_error),
        (1, 1, 1)
    );
}

#[test]
fn read_error_on_an_entry_is_a_counted_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::with_storage(config(dir.path()), Box::new(Unreadable)).unwrap();
    assert!(matches!(get_h(&cache, &key(2), 8), Lookup::Miss));
    assert_eq!((cache.counters().read_error, cache.counters().miss), (1, 1));
    assert_eq!(
        cache.put(&entry(key(2), 8)).unwrap(),
        kiln_cache::PutOutcome::Stored
    );
}

/// Root ignores permission bits, so whether a 0500 directory is really read-only depends on
/// who runs the tests.
fn writes_are_refused(dir: &std::path::Path) -> bool {
    std::fs::create_dir(dir.join("probe")).is_err()
}

#[test]
fn read_only_dir_makes_put_fail_but_get_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(1), 8)).unwrap();
    let version_dir = dir.path().join("v1");
    std::fs::set_permissions(&version_dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    if writes_are_refused(&version_dir) {
        let error = cache.put(&entry(key(2), 8)).unwrap_err();
        assert!(
            matches!(
                error,
                CacheError::Write {
                    failure: WriteFailure::PermissionDenied,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(cache.counters().write_error, 1);
    }
    assert!(hit_artifact(get_h(&cache, &key(1), 8)).is_some());
    std::fs::set_permissions(&version_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn blocked_path_makes_put_fail_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(1), 8)).unwrap();
    // A file where the shard directory of key(2) belongs: no directory can be made there.
    std::fs::write(dir.path().join("v1").join("02"), b"in the way").unwrap();
    let error = cache.put(&entry(key(2), 8)).unwrap_err();
    assert!(matches!(error, CacheError::Write { .. }), "{error:?}");
    assert!(error.to_string().contains("/v1/02"), "{error}");
    assert_eq!(cache.counters().write_error, 1);
    assert!(matches!(get_h(&cache, &key(2), 8), Lookup::Miss));
    assert!(hit_artifact(get_h(&cache, &key(1), 8)).is_some());
}

#[test]
fn entry_names_that_are_not_hashes_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(3), 8)).unwrap();
    let kdir = key_dir(dir.path(), &key(3));
    std::fs::write(kdir.join("..evil"), b"x").unwrap();
    std::fs::write(kdir.join(".tmp-1-abc"), b"partial").unwrap();
    std::fs::write(kdir.join("README"), b"x").unwrap();
    assert!(hit_artifact(get_h(&cache, &key(3), 8)).is_some());
    assert_eq!(cache.list().unwrap().len(), 1);
    assert_eq!(cache.counters().corrupt, 0);
}
