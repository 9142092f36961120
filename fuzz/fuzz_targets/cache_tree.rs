//! The cache on a directory tree an attacker mutated (links, FIFOs, modes, owners, huge
//! sparse files, garbage): no wrong code served, nothing outside touched, no hang, no abort.
//! The harness is shared with the stable replay in crates/kiln-cache/tests/tree_fuzz.rs.
#![no_main]

#[path = "../harness/cache_tree.rs"]
mod cache_tree;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cache_tree::run(data));
