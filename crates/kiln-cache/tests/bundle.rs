//! Export and import of one portable bundle file.
mod common;

use common::*;
use kiln_cache::{Cache, CacheConfig, CacheError, CacheKey, SaveOutcome, StorageError, StoredFile};

#[test]
fn export_import_round_trip() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(from.path());
    for (byte, h) in [(1u8, 4), (1, 8), (2, 8)] {
        source.put(&entry(key(byte), h)).unwrap();
    }
    let bundle = from.path().join("cache.kilnbundle");
    assert_eq!(source.export(&bundle).unwrap(), 3);
    let target = open(to.path());
    let report = target.import(&bundle).unwrap();
    assert_eq!((report.imported, report.already_present), (3, 0));
    assert!(report.rejected.is_empty());
    assert_eq!(target.entries_for(&key(1)), source.entries_for(&key(1)));
    assert!(hit_artifact(get_h(&target, &key(2), 8)).is_some());
    assert_eq!(target.import(&bundle).unwrap().already_present, 3);
}

#[test]
fn a_corrupted_entry_is_reported_and_the_rest_imported() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(from.path());
    source.put(&entry(key(1), 4)).unwrap();
    source.put(&entry(key(2), 8)).unwrap();
    let bundle = from.path().join("b");
    source.export(&bundle).unwrap();
    // Flip a byte inside the artifact of the second entry (its marker text is unique).
    let mut bytes = std::fs::read(&bundle).unwrap();
    let marker = b"code for H=0008;";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&bundle, &bytes).unwrap();
    let target = open(to.path());
    let report = target.import(&bundle).unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].key, Some(key(2)));
    assert_eq!(target.keys().unwrap(), vec![key(1)]);
}

#[test]
fn unsigned_bundle_is_refused_by_a_signed_cache() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(from.path());
    source.put(&entry(key(1), 4)).unwrap();
    let bundle = from.path().join("b");
    source.export(&bundle).unwrap();
    let signed = Cache::open(CacheConfig {
        secret: Some(b"k".to_vec()),
        ..config(to.path())
    })
    .unwrap();
    let report = signed.import(&bundle).unwrap();
    assert_eq!((report.imported, report.rejected.len()), (0, 1));
}

#[test]
fn a_file_that_is_not_a_bundle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let path = dir.path().join("junk");
    for junk in [
        &b"short"[..],
        b"NOTABUNDLE-at-all",
        b"KILNBNDL\x01\x00\x00\x00\xff\xff",
    ] {
        std::fs::write(&path, junk).unwrap();
        let error = cache.import(&path).unwrap_err();
        assert!(matches!(error, CacheError::BadBundle { .. }), "{error:?}");
    }
}

#[test]
fn trailing_bytes_make_the_bundle_an_error_before_anything_is_stored() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(from.path());
    source.put(&entry(key(1), 4)).unwrap();
    let bundle = from.path().join("b");
    source.export(&bundle).unwrap();
    let mut bytes = std::fs::read(&bundle).unwrap();
    bytes.extend_from_slice(b"appended");
    std::fs::write(&bundle, &bytes).unwrap();
    let target = open(to.path());
    let error = target.import(&bundle).unwrap_err();
    assert!(error.to_string().contains("8 trailing bytes"), "{error}");
    assert!(target.keys().unwrap().is_empty());
}

/// The peak resident memory of this process, in KiB.
fn max_rss_kib() -> i64 {
    // SAFETY: getrusage writes only into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_maxrss
}

/// A 1.5 GB (sparse) entry in a bundle, over the cache's size limit: skipped by seeking, never
/// read into memory (the whole bundle used to be).
#[test]
fn an_oversized_entry_is_skipped_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("big");
    let len: u64 = 3 << 29;
    let mut head = kiln_cache::BUNDLE_MAGIC.to_vec();
    head.extend_from_slice(&kiln_cache::BUNDLE_VERSION.to_le_bytes());
    head.push(1); // one entry
    head.extend_from_slice(&key(1).0);
    head.push(64);
    head.extend_from_slice("a".repeat(64).as_bytes());
    head.extend_from_slice(&postcard::to_allocvec(&len).unwrap());
    std::fs::write(&bundle, &head).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&bundle)
        .unwrap()
        .set_len(head.len() as u64 + len)
        .unwrap();
    let cache = Cache::open(CacheConfig {
        max_size: 1 << 20,
        ..config(&dir.path().join("cache"))
    })
    .unwrap();
    let before = max_rss_kib();
    let report = cache.import(&bundle).unwrap();
    assert_eq!((report.imported, report.too_large), (0, 1));
    let grown_mib = (max_rss_kib() - before) / 1024;
    assert!(grown_mib < 256, "import grew memory by {grown_mib} MiB");
}

/// Counts guard index writes of the disk level.
struct IndexWrites {
    disk: kiln_cache::DiskStorage,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl kiln_cache::Storage for IndexWrites {
    fn location(&self) -> String {
        self.disk.location()
    }
    fn entry_names(&self, key: &CacheKey) -> Result<Vec<String>, StorageError> {
        self.disk.entry_names(key)
    }
    fn read(&self, key: &CacheKey, name: &str) -> Result<Vec<u8>, StorageError> {
        self.disk.read(key, name)
    }
    fn read_index(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.disk.read_index(key)
    }
    fn write_index(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), StorageError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// 200 entries of one key: one index write (each entry used to rewrite the whole index).
#[test]
fn importing_many_entries_of_one_key_writes_its_index_once() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(from.path());
    for h in 0..200 {
        source.put(&entry(key(7), h)).unwrap();
    }
    let bundle = from.path().join("b");
    assert_eq!(source.export(&bundle).unwrap(), 200);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let storage = IndexWrites {
        disk: kiln_cache::DiskStorage::new(to.path().join("v1")),
        writes: writes.clone(),
    };
    let target = Cache::with_storage(config(to.path()), Box::new(storage)).unwrap();
    assert_eq!(target.import(&bundle).unwrap().imported, 200);
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
    for h in [0, 99, 199] {
        assert!(hit_artifact(get_h(&target, &key(7), h)).is_some());
    }
}
