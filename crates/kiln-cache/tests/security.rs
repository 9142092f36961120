//! Signatures, directory permissions and file ownership.
mod common;

use common::*;
use kiln_cache::{Cache, CacheConfig, CacheError, Lookup};
use std::os::unix::fs::PermissionsExt;

fn with_secret(dir: &std::path::Path, secret: Option<&str>) -> Cache {
    Cache::open(CacheConfig {
        secret: secret.map(|s| s.as_bytes().to_vec()),
        ..config(dir)
    })
    .unwrap()
}

#[test]
fn signed_entries_round_trip_and_verify_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    with_secret(dir.path(), Some("s3cret"))
        .put(&entry(key(1), 8))
        .unwrap();
    assert!(hit_artifact(get_h(&with_secret(dir.path(), Some("s3cret")), &key(1), 8)).is_some());
    assert!(hit_artifact(get_h(&with_secret(dir.path(), None), &key(1), 8)).is_some());
}

#[test]
fn unsigned_entry_is_refused_and_kept_when_a_secret_is_set() {
    let dir = tempfile::tempdir().unwrap();
    with_secret(dir.path(), None)
        .put(&entry(key(2), 8))
        .unwrap();
    let signed = with_secret(dir.path(), Some("s3cret"));
    assert!(matches!(get_h(&signed, &key(2), 8), Lookup::Miss));
    // Not damaged, only not trusted by this secret (issue 14.9): counted `untrusted` and
    // left for `prune`, never served.
    assert_eq!(signed.counters().untrusted, 1);
    assert_eq!(signed.counters().corrupt, 0);
    assert_eq!(entry_files(dir.path(), &key(2)).len(), 1);
}

#[test]
fn entry_signed_with_another_secret_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    with_secret(dir.path(), Some("theirs"))
        .put(&entry(key(3), 8))
        .unwrap();
    let mine = with_secret(dir.path(), Some("mine"));
    assert!(matches!(get_h(&mine, &key(3), 8), Lookup::Miss));
    // Not damaged, only not trusted by this secret (issue 14.9): counted `untrusted` and
    // left for `prune`, never served.
    assert_eq!(mine.counters().untrusted, 1);
    assert_eq!(mine.counters().corrupt, 0);
    assert_eq!(entry_files(dir.path(), &key(3)).len(), 1);
}

#[test]
fn world_writable_dir_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir(&cache_dir).unwrap();
    for mode in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = Cache::open(config(&cache_dir)).unwrap_err();
        assert!(
            matches!(error, CacheError::InsecureMode { .. }),
            "{mode:o}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("chmod 700"), "{message}");
        assert!(
            message.contains(&cache_dir.display().to_string()),
            "{message}"
        );
    }
    std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Cache::open(config(&cache_dir)).is_ok());
}

#[test]
fn missing_dir_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("a").join("kiln");
    let cache = Cache::open(config(&cache_dir)).unwrap();
    let mode = std::fs::metadata(&cache_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    assert_eq!(cache.dir(), cache_dir.as_path());
}

#[test]
fn not_a_directory_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let error = Cache::open(config(&file)).unwrap_err();
    assert!(
        matches!(error, CacheError::NotADirectory { .. }),
        "{error:?}"
    );
    let error = Cache::open(config(&file.join("below"))).unwrap_err();
    assert!(
        matches!(error, CacheError::NotADirectory { .. }),
        "{error:?}"
    );
}

#[test]
fn group_writable_entry_file_is_skipped_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(4), 8)).unwrap();
    let file = entry_files(dir.path(), &key(4)).remove(0);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(matches!(get_h(&cache, &key(4), 8), Lookup::Miss));
    assert_eq!(cache.counters().untrusted, 1);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(hit_artifact(get_h(&cache, &key(4), 8)).is_some());
}

#[test]
fn symlinked_entry_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    cache.put(&entry(key(5), 8)).unwrap();
    let file = entry_files(dir.path(), &key(5)).remove(0);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    assert!(matches!(get_h(&cache, &key(5), 8), Lookup::Miss));
    assert_eq!(cache.counters().untrusted, 1);
}
