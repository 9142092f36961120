//! What one cache entry holds. The artifact is opaque bytes: the cache knows no compiler.
use kiln_shape::GuardSet;
use serde::{Deserialize, Serialize};

use crate::key::CacheKey;

/// Who produced an entry. An entry is served only when its header equals the one the caller
/// expects, so another kiln version, backend or target never receives foreign code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryHeader {
    /// The artifact format version of the producing backend (chosen by the driver); the file
    /// format of this crate is [`crate::FORMAT_VERSION`], stored separately.
    pub format_version: u32,
    pub kiln_version: String,
    pub backend: String,
    pub target: String,
}

/// Facts for people: `kiln cache list` and "why did this miss" explanations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub graph_name: String,
    pub compile_ms: f64,
    pub created_unix_ms: u64,
    /// Each key component by name with a readable value, to diff against a later key.
    pub key_components: Vec<(String, String)>,
}

/// One compiled specialisation: valid for `key` whenever `guards` hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub header: EntryHeader,
    pub key: CacheKey,
    pub guards: GuardSet,
    pub artifact: Vec<u8>,
    pub meta: EntryMeta,
}
