//! The secret as configured (issue 13, items 10 and 11): an unusable secret stops the cache
//! instead of turning signing off, a secret that is not UTF-8 signs, and a signed entry that a
//! process without the secret refuses is really removed.
mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use common::*;
use kiln_cache::{Cache, CacheConfig, CacheError, Lookup, SecretError};

fn from(vars: Vec<(&'static str, OsString)>, dir: &std::path::Path) -> CacheConfig {
    CacheConfig {
        dir: dir.to_path_buf(),
        ..CacheConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }
}

#[test]
fn an_empty_secret_refuses_to_open_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = from(vec![("KILN_CACHE_SECRET", OsString::new())], dir.path());
    match Cache::open(config) {
        Err(CacheError::Secret(SecretError::Empty)) => {}
        other => panic!("expected an unusable-secret error, got {other:?}"),
    }
}

#[test]
fn a_non_utf8_secret_signs_and_refuses_unsigned_entries() {
    let dir = tempfile::tempdir().unwrap();
    let secret = OsString::from_vec(vec![0xc3, 0x28, 0xff, b's']);
    let unsigned = open(dir.path());
    let k = key(1);
    unsigned.put(&entry(k, 4)).unwrap();
    let signed = Cache::open(from(vec![("KILN_CACHE_SECRET", secret)], dir.path())).unwrap();
    assert!(
        matches!(
            get_h(&signed, &k, 4),
            Lookup::Miss | Lookup::GuardMiss { .. }
        ),
        "an unsigned entry is not served once a secret is set"
    );
    signed.put(&entry(k, 4)).unwrap();
    assert!(
        hit_artifact(get_h(&signed, &k, 4)).is_some(),
        "its own signed entry hits"
    );
}

#[test]
fn a_signed_entry_refused_by_a_process_without_the_secret_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(2);
    let signed = Cache::open(CacheConfig {
        secret: Some(b"fleet-secret".to_vec()),
        ..config(dir.path())
    })
    .unwrap();
    signed.put(&entry(k, 4)).unwrap();
    assert_eq!(entry_files(dir.path(), &k).len(), 1);

    let plain = open(dir.path());
    let mut accept = |e: &kiln_cache::Entry, _: &str| {
        // The driver's view: the backend cannot use the artifact.
        plain.discard(e, "garbage artifact");
        false
    };
    let lookup = plain.get(&k, &header(), &mut accept);
    assert!(!matches!(lookup, Lookup::Hit(_)));
    assert!(
        entry_files(dir.path(), &k).is_empty(),
        "the refused entry is gone"
    );
    let lookup = plain.get(&k, &header(), &mut |_, _| true);
    assert!(matches!(lookup, Lookup::Miss), "{lookup:?}");
    assert_eq!(
        plain.counters().corrupt,
        1,
        "counted once, not on every run"
    );
}
