//! The cache entry decoder on arbitrary bytes. The file name is set to the bytes' own content
//! hash so that inputs get past the hash check into the format, signature and postcard
//! decoding, which is what a forged (or re-hashed) file would reach. Must never panic.
#![no_main]

use kiln_cache::{CacheKey, content_hash, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = content_hash(data);
    let key = CacheKey([0x5a; 32]);
    for secret in [None, Some(&b"fuzz-secret"[..])] {
        if let Ok(entry) = decode(data, &name, &key, secret) {
            // Whatever decodes re-encodes, and the re-encoded file decodes to the same entry.
            let (again_name, again) = encode(&entry, secret).expect("a decoded entry encodes");
            let back = decode(&again, &again_name, &key, secret).expect("re-encoded decodes");
            assert_eq!(back, entry);
        }
    }
    // A wrong name is always refused.
    assert!(decode(data, &"0".repeat(64), &key, None).is_err() || name == "0".repeat(64));
});
