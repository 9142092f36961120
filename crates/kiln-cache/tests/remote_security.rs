//! With `KILN_CACHE_SECRET`, entries planted in Redis by hand (unsigned, signed with another
//! secret, or tampered) are refused, counted, and never reach the local disk.
mod common;
mod remote_support;

use common::{entry, entry_files, get_h, hit_artifact, key};
use kiln_cache::{CacheKey, Lookup, content_hash, encode};
use remote_support::{machine, raw, remote, test_redis, unique_prefix};
use std::time::Duration;

const SECRET: &[u8] = b"fleet secret";

fn plant(url: &str, prefix: &str, key: &CacheKey, name: &str, bytes: &[u8]) {
    let mut conn = raw(url);
    redis::cmd("HSET")
        .arg(format!("{prefix}{key}"))
        .arg(name)
        .arg(bytes)
        .query::<()>(&mut conn)
        .unwrap();
}

#[test]
fn signed_entries_are_shared_between_machines_with_the_secret() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("signed");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), remote(&url, &prefix), Some(SECRET));
    a.put(&entry(key(1), 1)).unwrap();
    assert!(a.flush_remote(Duration::from_secs(5)));
    let b = machine(dir_b.path(), remote(&url, &prefix), Some(SECRET));
    assert_eq!(
        hit_artifact(get_h(&b, &key(1), 1)),
        Some(entry(key(1), 1).artifact)
    );
    assert_eq!(b.counters().remote_hit, 1);
}

#[test]
fn unsigned_forged_and_tampered_remote_entries_are_refused() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("forged");
    let (unsigned_name, unsigned) = encode(&entry(key(2), 1), None).unwrap();
    plant(&url, &prefix, &key(2), &unsigned_name, &unsigned);
    let (forged_name, forged) = encode(&entry(key(3), 1), Some(b"not the secret")).unwrap();
    plant(&url, &prefix, &key(3), &forged_name, &forged);
    // Good signature, then a flipped artifact byte stored under the hash of the new bytes.
    let (_, mut tampered) = encode(&entry(key(4), 1), Some(SECRET)).unwrap();
    let last_artifact_byte = tampered.len() - 33;
    tampered[last_artifact_byte] ^= 1;
    plant(&url, &prefix, &key(4), &content_hash(&tampered), &tampered);
    // A field that is not a content hash is ignored.
    plant(&url, &prefix, &key(5), "../../etc/passwd", b"KILNCENT");

    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), remote(&url, &prefix), Some(SECRET));
    for k in [2, 3, 4, 5] {
        assert!(matches!(get_h(&cache, &key(k), 1), Lookup::Miss), "key {k}");
        assert!(entry_files(dir.path(), &key(k)).is_empty(), "key {k}");
    }
    let counters = cache.counters();
    assert_eq!(counters.corrupt, 3);
    assert_eq!((counters.hit, counters.remote_hit), (0, 0));
    assert_eq!(counters.remote_miss, 4);
    assert_eq!(counters.remote_error, 0);
}

#[test]
fn without_a_secret_the_content_hash_still_guards_remote_bytes() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("hash");
    let (name, mut bytes) = encode(&entry(key(6), 1), None).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    plant(&url, &prefix, &key(6), &name, &bytes);
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), remote(&url, &prefix), None);
    assert!(matches!(get_h(&cache, &key(6), 1), Lookup::Miss));
    assert_eq!(cache.counters().corrupt, 1);
    assert!(entry_files(dir.path(), &key(6)).is_empty());
}
