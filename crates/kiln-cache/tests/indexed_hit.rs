//! The driver's hit path (`Cache::get_indexed`): served from the guard index without the key
//! lock, counting a hit and nothing else; everything it cannot serve is left, uncounted, to
//! the full walk under the lock.
mod common;

use common::*;
use kiln_cache::{Cache, Entry};
use std::sync::Arc;
use std::time::Duration;

fn get_indexed_h(cache: &Cache, key: &kiln_cache::CacheKey, h: i64) -> Option<Entry> {
    let values = Values(vec![("H", h)]);
    cache.get_indexed(
        key,
        &header(),
        &mut |g| g.eval(&values).unwrap_or(false),
        &mut |_, _| true,
    )
}

#[test]
fn an_indexed_hit_needs_no_key_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(dir.path()));
    cache.put(&entry(key(1), 5)).unwrap();
    cache.put(&entry(key(1), 6)).unwrap();
    // Another holder of the key's lock (a process compiling it) does not delay a hit.
    let _held = cache.lock(&key(1)).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let other = Arc::clone(&cache);
    std::thread::spawn(move || {
        let hit = get_indexed_h(&other, &key(1), 6).map(|e| e.artifact);
        sender.send(hit).unwrap();
    });
    let hit = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(hit, Some(entry(key(1), 6).artifact));
    assert_eq!(cache.counters().hit, 1);
}

#[test]
fn what_the_index_cannot_serve_is_left_uncounted_to_the_full_walk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(2), 5)).unwrap();
    // Guards that fail, an unknown key: no hit, and no miss counted (the full walk counts).
    assert!(get_indexed_h(&cache, &key(2), 7).is_none());
    assert!(get_indexed_h(&cache, &key(3), 5).is_none());
    let c = cache.counters();
    assert_eq!((c.hit, c.miss, c.guard_miss), (0, 0, 0));
    // The full walk then counts the guard miss once.
    assert!(hit_artifact(get_h(&cache, &key(2), 7)).is_none());
    assert_eq!(cache.counters().guard_miss, 1);
}

#[test]
fn an_indexed_entry_removed_since_is_not_a_hit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(4), 5)).unwrap();
    for file in entry_files(dir.path(), &key(4)) {
        std::fs::remove_file(file).unwrap();
    }
    // The index still lists it; the read finds nothing, and nothing is counted.
    assert!(get_indexed_h(&cache, &key(4), 5).is_none());
    assert_eq!(cache.counters().hit, 0);
}

#[test]
fn a_damaged_entry_behind_the_index_is_refused_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(5), 5)).unwrap();
    let files = entry_files(dir.path(), &key(5));
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&files[0], &bytes).unwrap();
    assert!(get_indexed_h(&cache, &key(5), 5).is_none());
    assert_eq!(cache.counters().corrupt, 1);
    assert!(entry_files(dir.path(), &key(5)).is_empty());
}
