//! `CacheConfig::from_env` on a process environment. One test in its own binary: it sets a
//! variable, which no other thread of this process reads.
use kiln_cache::CacheConfig;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// A `KILN_CACHE_DIR` that is not UTF-8 is a path like any other, not "unset".
#[test]
fn a_non_utf8_cache_dir_is_used_not_replaced_by_the_default() {
    let raw = std::ffi::OsString::from_vec(b"/tmp/kiln-\xff-cache".to_vec());
    // SAFETY: this binary's only test; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("KILN_CACHE_DIR", &raw) };
    assert_eq!(CacheConfig::from_env().dir, PathBuf::from(raw));
}
