//! Export and import of one portable bundle file.
mod common;

use common::*;
use kiln_cache::{Cache, CacheConfig, CacheError};

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
