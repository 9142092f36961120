//! Stores off the caller's path (`Cache::put_later`): the entry is on disk after `flush`, a
//! lookup of the same key that takes the key's lock finds it (the store thread holds the lock
//! until the entry is published), and without a lock the write happens at once.
mod common;

use common::*;
use kiln_cache::{Lookup, PutOutcome};

#[test]
fn a_queued_entry_is_on_disk_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let stored = entry(key(1), 8);
    let lock = cache.lock(&key(1)).unwrap();
    assert_eq!(
        cache.put_later(&stored, Some(lock)).unwrap(),
        PutOutcome::Queued
    );
    cache.flush();
    assert_eq!(entry_files(dir.path(), &key(1)).len(), 1);
    assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Hit(found) if found == stored));
}

#[test]
fn a_lookup_under_the_key_lock_waits_for_the_queued_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader) = (open(dir.path()), open(dir.path()));
    for round in 0..20u8 {
        let k = key(10 + round);
        let stored = entry(k, 8);
        writer
            .put_later(&stored, Some(writer.lock(&k).unwrap()))
            .unwrap();
        // As the driver does after a lock-free miss: take the lock, then look again. The
        // store thread releases the lock only once the entry is published.
        let _lock = reader.lock(&k).unwrap();
        let found = reader.get_guarded(&k, &header(), &mut |_| true, &mut |_, _| true);
        assert!(
            matches!(found, Lookup::Hit(e) if e == stored),
            "round {round}"
        );
    }
}

#[test]
fn without_a_lock_the_entry_is_written_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    assert_eq!(
        cache.put_later(&entry(key(2), 8), None).unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(entry_files(dir.path(), &key(2)).len(), 1);
}

#[test]
fn an_oversized_entry_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_size = 100;
    let cache = kiln_cache::Cache::open(config).unwrap();
    let big = entry_sized(key(3), 8, 1000);
    let outcome = cache.put_later(&big, Some(cache.lock(&key(3)).unwrap()));
    assert!(
        matches!(outcome, Ok(PutOutcome::TooLarge { .. })),
        "{outcome:?}"
    );
    cache.flush();
    assert!(entry_files(dir.path(), &key(3)).is_empty());
}
