//! Cache keys and content hashes: the only names that ever become paths.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The sha256 of everything that determines a compilation, computed by the driver.
/// Displayed as 64 lowercase hex characters; that text is also the key's directory name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CacheKey(pub [u8; 32]);

/// A key text that is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a cache key: expected 64 hex characters")]
pub struct KeyParseError {
    pub text: String,
}

impl CacheKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<CacheKey, KeyParseError> {
        let error = || KeyParseError {
            text: text.chars().take(80).collect(),
        };
        if !is_hex_name(text) {
            return Err(error());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| error())?;
        Ok(CacheKey(bytes))
    }

    /// The first two hex characters: the shard directory that spreads keys over 256 folders.
    pub(crate) fn shard(&self) -> String {
        hex::encode(&self.0[..1])
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

impl FromStr for CacheKey {
    type Err = KeyParseError;
    fn from_str(text: &str) -> Result<CacheKey, KeyParseError> {
        CacheKey::from_hex(text)
    }
}

/// True for exactly 64 lowercase hex characters: a sha256 as this crate writes it. Every
/// directory or file name read back from disk or a bundle must pass this before it is used.
pub(crate) fn is_hex_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True for a two-character lowercase hex shard directory name.
pub(crate) fn is_shard_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let key = CacheKey([0xab; 32]);
        let text = key.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(CacheKey::from_hex(&text), Ok(key));
        assert_eq!(key.shard(), "ab");
        assert!(CacheKey::from_hex(&text.to_uppercase()).is_err());
        assert!(CacheKey::from_hex("../../etc/passwd").is_err());
        assert!(CacheKey::from_hex(&text[..63]).is_err());
        assert!(!is_hex_name(".tmp-1-2"));
        assert!(is_shard_name("0f") && !is_shard_name("0g") && !is_shard_name("v1"));
    }
}
