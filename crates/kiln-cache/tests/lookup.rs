mod common;

use common::*;
use kiln_cache::{Cache, CacheKey, Entry, EntryHeader, Lookup, PutOutcome};
use std::sync::Arc;

#[test]
fn put_then_get_round_trips_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let stored = entry(key(1), 8);
    assert_eq!(cache.put(&stored).unwrap(), PutOutcome::Stored);
    assert_eq!(cache.put(&stored).unwrap(), PutOutcome::AlreadyPresent);
    match get_h(&cache, &key(1), 8) {
        Lookup::Hit(found) => assert_eq!(found, stored),
        other => panic!("expected a hit, got {other:?}"),
    }
    assert_eq!(entry_files(dir.path(), &key(1)).len(), 1);
}

#[test]
fn accept_chooses_among_several_entries_of_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    for h in [4, 8, 16] {
        cache.put(&entry(key(2), h)).unwrap();
    }
    assert_eq!(entry_files(dir.path(), &key(2)).len(), 3);
    for h in [16, 4, 8] {
        let artifact = hit_artifact(get_h(&cache, &key(2), h)).expect("hit");
        assert!(artifact.starts_with(format!("code for H={h:04};").as_bytes()));
    }
    assert_eq!(cache.entries_for(&key(2)).len(), 3);
}

#[test]
fn guard_miss_is_told_apart_from_miss_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(3), 4)).unwrap();
    cache.put(&entry(key(3), 5)).unwrap();
    assert!(matches!(
        get_h(&cache, &key(3), 6),
        Lookup::GuardMiss { entries: 2 }
    ));
    assert!(matches!(get_h(&cache, &key(9), 6), Lookup::Miss));
    assert!(hit_artifact(get_h(&cache, &key(3), 5)).is_some());
    let counters = cache.counters();
    assert_eq!(
        (counters.hit, counters.miss, counters.guard_miss),
        (1, 1, 1)
    );
    assert_eq!(counters.corrupt, 0);
}

#[test]
fn entry_of_another_header_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let mut foreign = entry(key(4), 8);
    foreign.header.backend = "cuda".to_string();
    cache.put(&foreign).unwrap();
    let mut accepted = 0;
    let lookup = cache.get(&key(4), &header(), &mut |_: &Entry, _: &str| {
        accepted += 1;
        true
    });
    assert!(matches!(lookup, Lookup::Miss));
    assert_eq!(accepted, 0, "accept must not even see a foreign entry");
    assert_eq!(cache.counters().stale, 1);
    let cuda = EntryHeader {
        backend: "cuda".to_string(),
        ..header()
    };
    assert!(matches!(
        cache.get(&key(4), &cuda, &mut |_: &Entry, _: &str| true),
        Lookup::Hit(_)
    ));
}

#[test]
fn lifetime_counters_persist_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cache = open(dir.path());
        assert!(matches!(get_h(&cache, &key(5), 1), Lookup::Miss));
        cache.put(&entry(key(5), 1)).unwrap();
        assert!(hit_artifact(get_h(&cache, &key(5), 1)).is_some());
        cache.record_bypass("graph has an opaque op");
    }
    {
        let cache = open(dir.path());
        assert_eq!(cache.counters().hit, 0, "process counters start at zero");
        let lifetime = cache.lifetime_counters().unwrap();
        assert_eq!((lifetime.hit, lifetime.miss, lifetime.bypass), (1, 1, 1));
        assert!(hit_artifact(get_h(&cache, &key(5), 1)).is_some());
        // Unmerged counts of this instance are included.
        assert_eq!(cache.lifetime_counters().unwrap().hit, 2);
    }
    let cache = open(dir.path());
    assert_eq!(cache.lifetime_counters().unwrap().hit, 2);
}

#[test]
fn clear_removes_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    for byte in 0..4 {
        cache.put(&entry(key(byte), 1)).unwrap();
    }
    assert_eq!(cache.keys().unwrap().len(), 4);
    cache.clear().unwrap();
    assert!(cache.keys().unwrap().is_empty());
    assert_eq!(cache.stats().unwrap().bytes, 0);
    assert!(matches!(get_h(&cache, &key(0), 1), Lookup::Miss));
    cache.put(&entry(key(0), 1)).unwrap();
    assert!(hit_artifact(get_h(&cache, &key(0), 1)).is_some());
}

#[test]
fn list_and_stats_describe_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(6), 1)).unwrap();
    cache.put(&entry(key(6), 2)).unwrap();
    let mut cuda = entry(key(7), 1);
    cuda.header.backend = "cuda".to_string();
    cache.put(&cuda).unwrap();
    let list = cache.list().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|info| info.problem.is_none()));
    assert_eq!(list[2].key, key(7));
    assert_eq!(list[2].graph_name.as_deref(), Some("graph_h0001"));
    assert_eq!(list[2].guards, Some(guards_h(1)));
    let stats = cache.stats().unwrap();
    assert_eq!((stats.entries, stats.keys), (3, 2));
    assert_eq!(stats.bytes, list.iter().map(|i| i.size).sum::<u64>());
    assert_eq!(stats.per_backend["cpu"].entries, 2);
    assert_eq!(stats.per_backend["cuda"].entries, 1);
    assert_eq!(cache.keys().unwrap(), vec![key(6), key(7)]);
}

#[test]
fn concurrent_puts_into_one_key_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for h in 0..5 {
                    // Threads overlap on h, so identical entries race too.
                    cache.put(&entry(key(8), h + t % 2)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(entry_files(dir.path(), &key(8)).len(), 6);
    for h in 0..6 {
        assert!(hit_artifact(get_h(&cache, &key(8), h)).is_some(), "h={h}");
    }
    let leftovers = std::fs::read_dir(key_dir(dir.path(), &key(8)))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    assert_eq!(leftovers, 0);
    assert_eq!(cache.verify().unwrap().removed, vec![]);
}

#[test]
fn key_display_is_hex_and_layout_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache = open(dir.path());
    let k = CacheKey([0x5a; 32]);
    cache.put(&entry(k, 1)).unwrap();
    let files = entry_files(dir.path(), &k);
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(name, kiln_cache::content_hash(&bytes));
    assert!(files[0].starts_with(dir.path().join("v1").join("5a").join(k.to_string())));
}
