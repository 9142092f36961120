//! Damaged, forged and misplaced entry files are never served: counted corrupt and removed.
mod common;

use common::*;
use kiln_cache::{CacheKey, Lookup};
use std::path::Path;

#[derive(Debug, Clone, Copy)]
enum Region {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    FlipBit,
    Zero,
    Garbage,
}

fn damage(bytes: &mut Vec<u8>, region: Region, how: Damage) {
    let at = match region {
        Region::Start => 2,
        Region::Middle => bytes.len() / 2,
        Region::End => bytes.len() - 3,
    };
    match how {
        Damage::Truncate => bytes.truncate(at),
        Damage::FlipBit => bytes[at] ^= 0x10,
        Damage::Zero => {
            // From the nearest non-zero byte, so that zeroing changes something.
            let from = (at..bytes.len()).find(|&i| bytes[i] != 0).unwrap_or(at);
            let to = (from + 3).min(bytes.len());
            bytes[from..to].fill(0);
        }
        Damage::Garbage => {
            for (i, b) in bytes[at..at + 3].iter_mut().enumerate() {
                *b = b.wrapping_mul(31).wrapping_add(7 + i as u8);
            }
        }
    }
}

/// Runs one damaged lookup, keeping the file name (so only content checks can catch it).
fn assert_refused(dir: &Path, k: CacheKey, what: &str) {
    let cache = open(dir);
    let lookup = get_h(&cache, &k, 8);
    assert!(
        !matches!(lookup, Lookup::Hit(_)),
        "{what}: served damaged data"
    );
    assert_eq!(cache.counters().corrupt, 1, "{what}");
    assert!(entry_files(dir, &k).is_empty(), "{what}: file not removed");
}

#[test]
fn every_kind_of_damage_in_every_region_is_refused_and_removed() {
    for region in [Region::Start, Region::Middle, Region::End] {
        for how in [
            Damage::Truncate,
            Damage::FlipBit,
            Damage::Zero,
            Damage::Garbage,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let k = key(1);
            open(dir.path()).put(&entry(k, 8)).unwrap();
            let file = entry_files(dir.path(), &k).remove(0);
            let original = std::fs::read(&file).unwrap();
            let mut bytes = original.clone();
            damage(&mut bytes, region, how);
            assert_ne!(bytes, original, "{how:?} at {region:?} changed nothing");
            std::fs::write(&file, &bytes).unwrap();
            assert_refused(dir.path(), k, &format!("{how:?} at {region:?}"));
        }
    }
}

#[test]
fn damage_that_keeps_the_hash_name_consistent_is_still_refused() {
    // A forger who renames the file to the hash of the damaged bytes passes the hash check;
    // decoding or the magic must catch it.
    for region in [Region::Start, Region::Middle, Region::End] {
        let dir = tempfile::tempdir().unwrap();
        let k = key(2);
        open(dir.path()).put(&entry(k, 8)).unwrap();
        let file = entry_files(dir.path(), &k).remove(0);
        let mut bytes = std::fs::read(&file).unwrap();
        damage(&mut bytes, region, Damage::Truncate);
        std::fs::remove_file(&file).unwrap();
        let renamed = file.with_file_name(kiln_cache::content_hash(&bytes));
        std::fs::write(&renamed, &bytes).unwrap();
        assert_refused(dir.path(), k, &format!("rehashed truncation at {region:?}"));
    }
}

#[test]
fn file_from_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mine, other) = (key(3), key(4));
    let cache = open(dir.path());
    cache.put(&entry(other, 8)).unwrap();
    let source = entry_files(dir.path(), &other).remove(0);
    let target_dir = key_dir(dir.path(), &mine);
    std::fs::create_dir_all(&target_dir).unwrap();
    std::fs::copy(&source, target_dir.join(source.file_name().unwrap())).unwrap();
    drop(cache);
    assert_refused(dir.path(), mine, "entry of another key");
    // The genuine one is untouched.
    assert!(hit_artifact(get_h(&open(dir.path()), &other, 8)).is_some());
}

#[test]
fn content_swapped_under_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(5);
    let cache = open(dir.path());
    cache.put(&entry(k, 7)).unwrap();
    cache.put(&entry(k, 8)).unwrap();
    let files = entry_files(dir.path(), &k);
    // Both files now hold the H=7 entry; the one named for H=8 no longer matches its hash.
    let seven = cache
        .entries_for(&k)
        .into_iter()
        .position(|e| e.guards == guards_h(7))
        .unwrap();
    std::fs::copy(&files[seven], &files[1 - seven]).unwrap();
    drop(cache);
    let cache = open(dir.path());
    assert!(matches!(
        get_h(&cache, &k, 8),
        Lookup::GuardMiss { entries: 1 }
    ));
    assert_eq!(cache.counters().corrupt, 1);
    assert_eq!(entry_files(dir.path(), &k).len(), 1);
    assert!(hit_artifact(get_h(&cache, &k, 7)).is_some());
}

#[test]
fn foreign_header_file_is_not_served_but_kept() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(6);
    let cache = open(dir.path());
    let mut other = entry(k, 8);
    other.header.kiln_version = "9.9.9".to_string();
    cache.put(&other).unwrap();
    assert!(matches!(get_h(&cache, &k, 8), Lookup::Miss));
    assert_eq!(cache.counters().stale, 1);
    assert_eq!(cache.counters().corrupt, 0);
    assert_eq!(
        entry_files(dir.path(), &k).len(),
        1,
        "another version may still use it"
    );
}

#[test]
fn verify_removes_bad_entries_and_keeps_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(7), 1)).unwrap();
    cache.put(&entry(key(8), 1)).unwrap();
    let file = entry_files(dir.path(), &key(8)).remove(0);
    let mut bytes = std::fs::read(&file).unwrap();
    damage(&mut bytes, Region::Middle, Damage::FlipBit);
    std::fs::write(&file, &bytes).unwrap();
    let report = cache.verify().unwrap();
    assert_eq!((report.checked, report.ok, report.removed.len()), (2, 1, 1));
    assert_eq!(report.removed[0].key, Some(key(8)));
    assert!(
        report.removed[0].reason.contains("hash"),
        "{}",
        report.removed[0].reason
    );
    assert_eq!(cache.keys().unwrap(), vec![key(7)]);
}
