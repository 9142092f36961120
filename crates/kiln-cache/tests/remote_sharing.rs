//! Two "machines" (two cache directories) sharing one Redis: the second hits remotely, then
//! locally, with the first one's bytes.
mod common;
mod remote_support;

use common::{entry, entry_files, get_h, header, hit_artifact, key};
use kiln_cache::{Entry, Lookup, encode};
use remote_support::{machine, raw, remote, test_redis, unique_prefix};
use std::time::Duration;

const FLUSH: Duration = Duration::from_secs(5);

#[test]
fn second_machine_hits_remotely_then_locally_with_identical_bytes() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("share");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), remote(&url, &prefix), None);
    let b = machine(dir_b.path(), remote(&url, &prefix), None);

    assert!(matches!(get_h(&a, &key(7), 3), Lookup::Miss));
    a.put(&entry(key(7), 3)).unwrap();
    assert!(a.flush_remote(FLUSH));
    assert_eq!(entry_files(dir_b.path(), &key(7)).len(), 0);

    let remote_hit = hit_artifact(get_h(&b, &key(7), 3)).expect("remote hit");
    assert_eq!(remote_hit, entry(key(7), 3).artifact);
    let after_remote = b.counters();
    assert_eq!((after_remote.hit, after_remote.remote_hit), (1, 1));

    // Written back off the hit's critical path (flush_remote waits for it): the same file,
    // byte for byte, now on B's disk.
    assert!(b.flush_remote(FLUSH));
    let files_a = entry_files(dir_a.path(), &key(7));
    let files_b = entry_files(dir_b.path(), &key(7));
    assert_eq!(files_b.len(), 1);
    assert_eq!(files_a[0].file_name(), files_b[0].file_name());
    assert_eq!(
        std::fs::read(&files_a[0]).unwrap(),
        std::fs::read(&files_b[0]).unwrap()
    );

    assert_eq!(
        hit_artifact(get_h(&b, &key(7), 3)).expect("local hit"),
        remote_hit
    );
    let after_local = b.counters();
    assert_eq!((after_local.hit, after_local.remote_hit), (2, 1));
    assert_eq!(after_local.remote_error, 0);
    assert_eq!(a.counters().remote_miss, 1, "A's first lookup asked Redis");
}

#[test]
fn one_redis_hash_per_key_holding_the_disk_bytes_with_a_ttl() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("layout");
    let dir = tempfile::tempdir().unwrap();
    let config = kiln_cache::RemoteConfig {
        ttl: Some(Duration::from_secs(600)),
        ..remote(&url, &prefix)
    };
    let cache = machine(dir.path(), config, None);
    cache.put(&entry(key(1), 1)).unwrap();
    cache.put(&entry(key(1), 2)).unwrap();
    assert!(cache.flush_remote(FLUSH));

    let mut conn = raw(&url);
    let redis_key = format!("{prefix}{}", key(1));
    let mut stored: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(&redis_key)
        .query(&mut conn)
        .unwrap();
    stored.sort();
    let mut expected: Vec<(String, Vec<u8>)> = [1, 2]
        .map(|h| encode(&entry(key(1), h), None).unwrap())
        .into();
    expected.sort();
    assert_eq!(stored, expected);
    for (name, bytes) in &stored {
        let on_disk = common::key_dir(dir.path(), &key(1)).join(name);
        assert_eq!(&std::fs::read(on_disk).unwrap(), bytes);
    }
    let ttl: i64 = redis::cmd("TTL").arg(&redis_key).query(&mut conn).unwrap();
    assert!((1..=600).contains(&ttl), "ttl {ttl}");
}

#[test]
fn a_local_guard_miss_falls_through_to_other_guard_sets_in_redis() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("guards");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), remote(&url, &prefix), None);
    let b = machine(dir_b.path(), remote(&url, &prefix), None);
    b.put(&entry(key(2), 1)).unwrap();
    a.put(&entry(key(2), 2)).unwrap();
    assert!(a.flush_remote(FLUSH) && b.flush_remote(FLUSH));

    // B holds H=1 locally; H=2 only exists in Redis (H=1 is there too, but B judged it).
    let artifact = hit_artifact(get_h(&b, &key(2), 2)).expect("remote hit for H=2");
    assert_eq!(artifact, entry(key(2), 2).artifact);
    // Neither level has H=3: two usable entries refused by the guards.
    let fresh = tempfile::tempdir().unwrap();
    let c = machine(fresh.path(), remote(&url, &prefix), None);
    assert!(matches!(
        get_h(&c, &key(2), 3),
        Lookup::GuardMiss { entries: 2 }
    ));
    assert_eq!((c.counters().guard_miss, c.counters().remote_miss), (1, 1));
}

#[test]
fn remote_entries_of_another_header_are_skipped_as_stale() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("stale");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), remote(&url, &prefix), None);
    let other_backend = Entry {
        header: kiln_cache::EntryHeader {
            backend: "cuda".to_string(),
            ..header()
        },
        ..entry(key(3), 1)
    };
    a.put(&other_backend).unwrap();
    assert!(a.flush_remote(FLUSH));
    let b = machine(dir_b.path(), remote(&url, &prefix), None);
    assert!(matches!(get_h(&b, &key(3), 1), Lookup::Miss));
    let counters = b.counters();
    assert_eq!(
        (counters.stale, counters.miss, counters.remote_hit),
        (1, 1, 0)
    );
    assert!(entry_files(dir_b.path(), &key(3)).is_empty());
}

#[test]
fn a_shared_prefix_separates_fleets() {
    let Some(url) = test_redis() else { return };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), remote(&url, &unique_prefix("fleet-a")), None);
    let b = machine(dir_b.path(), remote(&url, &unique_prefix("fleet-b")), None);
    a.put(&entry(key(4), 1)).unwrap();
    assert!(a.flush_remote(FLUSH));
    assert!(matches!(get_h(&b, &key(4), 1), Lookup::Miss));
    assert_eq!(b.remote_status().map(|s| s.enabled), Some(true));
}
