//! Access proofs shared by the programs of one process that were decoded from the same bytes.
//!
//! A cache hit after `reset()` (or a second `CompiledFunction` of the same graph) loads the
//! same entry again; its program is the same, so a proof made for it at some symbol values
//! holds for the new copy too. The bytes are named by their SHA-256 digest, which the loader
//! computes from the artifact it decodes (the entry holding it was verified by its own content
//! hash), so a program is only ever matched with proofs of a byte-identical program. Proving
//! the accesses of an adaptive pooling kernel is most of a hit's load time (tens of µs).
use std::collections::HashMap;
use std::sync::Mutex;

/// The SHA-256 digest of the bytes a program was decoded from.
pub type ArtifactDigest = [u8; 32];

type Proofs = HashMap<ArtifactDigest, Vec<Vec<i64>>>;

static PROVED: Mutex<Option<Proofs>> = Mutex::new(None);
/// Digests remembered at most; the memo is dropped when full (rare, and only costs proofs).
const MAX_DIGESTS: usize = 4096;
/// Symbol values remembered per digest (as `AccessCheck` remembers per program).
const MAX_VALUES: usize = 16;

/// Whether a byte-identical program was proved at `syms` in this process.
pub(crate) fn was_proved(digest: &ArtifactDigest, syms: &[i64]) -> bool {
    let memo = PROVED.lock().unwrap_or_else(|p| p.into_inner());
    memo.as_ref()
        .and_then(|m| m.get(digest))
        .is_some_and(|v| v.iter().any(|p| p.as_slice() == syms))
}

/// Records a successful proof of the program decoded from `digest`'s bytes at `syms`.
pub(crate) fn record_proof(digest: &ArtifactDigest, syms: &[i64]) {
    let mut memo = PROVED.lock().unwrap_or_else(|p| p.into_inner());
    let memo = memo.get_or_insert_with(HashMap::new);
    if memo.len() >= MAX_DIGESTS && !memo.contains_key(digest) {
        memo.clear();
    }
    let values = memo.entry(*digest).or_default();
    if values.len() >= MAX_VALUES {
        values.remove(0);
    }
    values.push(syms.to_vec());
}
