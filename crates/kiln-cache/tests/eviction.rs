//! Size bound: LRU eviction by last use, oversized entries, prune, stale temporary files.
mod common;

use common::*;
use kiln_cache::{Cache, CacheConfig, Lookup, PutOutcome};
use std::time::{Duration, SystemTime};

fn age(path: &std::path::Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

fn entry_size() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry_sized(key(0), 1, 1000)).unwrap();
    cache.stats().unwrap().bytes
}

#[test]
fn least_recently_used_is_evicted_and_a_hit_refreshes() {
    let size = entry_size();
    let dir = tempfile::tempdir().unwrap();
    // Room for 3 entries: the 4th put goes over and evicts down to 80% (one entry out).
    let cache = Cache::open(CacheConfig {
        max_size: 4 * size - 1,
        ..config(dir.path())
    })
    .unwrap();
    for (byte, seconds) in [(1u8, 300), (2, 200), (3, 100)] {
        cache.put(&entry_sized(key(byte), 1, 1000)).unwrap();
        age(&entry_files(dir.path(), &key(byte))[0], seconds);
    }
    // key(1) is the oldest, but a hit makes it the most recent: key(2) goes instead.
    assert!(hit_artifact(get_h(&cache, &key(1), 1)).is_some());
    cache.put(&entry_sized(key(4), 1, 1000)).unwrap();
    assert_eq!(cache.keys().unwrap(), vec![key(1), key(3), key(4)]);
    assert_eq!(cache.counters().evicted, 1);
    assert!(matches!(get_h(&cache, &key(2), 1), Lookup::Miss));
    assert!(
        !key_dir(dir.path(), &key(2)).exists(),
        "empty key dir removed"
    );
    assert_eq!(cache.stats().unwrap().bytes, 3 * size);
}

#[test]
fn entry_larger_than_max_size_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(CacheConfig {
        max_size: 500,
        ..config(dir.path())
    })
    .unwrap();
    let outcome = cache.put(&entry_sized(key(1), 1, 1000)).unwrap();
    assert!(
        matches!(outcome, PutOutcome::TooLarge { max_size: 500, .. }),
        "{outcome:?}"
    );
    assert_eq!(cache.counters().bypass, 1);
    assert!(cache.keys().unwrap().is_empty());
    assert_eq!(
        cache.put(&entry_sized(key(2), 1, 10)).unwrap(),
        PutOutcome::Stored
    );
}

#[test]
fn prune_goes_down_to_the_bound_oldest_first() {
    let size = entry_size();
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    for byte in 1..=5u8 {
        cache.put(&entry_sized(key(byte), 1, 1000)).unwrap();
        age(
            &entry_files(dir.path(), &key(byte))[0],
            1000 - u64::from(byte),
        );
    }
    let report = cache.prune(2 * size).unwrap();
    assert_eq!((report.removed_entries, report.remaining_entries), (3, 2));
    assert_eq!(report.remaining_bytes, 2 * size);
    assert_eq!(cache.keys().unwrap(), vec![key(4), key(5)]);
    assert_eq!(cache.stats().unwrap().bytes, 2 * size);
}

#[test]
fn stale_temp_files_are_removed_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(1), 1)).unwrap();
    let kdir = key_dir(dir.path(), &key(1));
    let (stale, fresh) = (kdir.join(".tmp-99999-dead"), kdir.join(".tmp-99999-live"));
    std::fs::write(&stale, b"half an entry").unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    age(&stale, 3600);
    let report = cache.prune(u64::MAX).unwrap();
    assert_eq!(report.temp_files_removed, 1);
    assert!(!stale.exists() && fresh.exists());
    // A put into the key dir also cleans up.
    age(&fresh, 3600);
    cache.put(&entry(key(1), 2)).unwrap();
    assert!(!fresh.exists());
}
