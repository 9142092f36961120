//! The bytes of one entry file, and their verification.
//!
//! ```text
//! magic "KILNCENT" (8) | file format u32 LE (4) | flags u8 (1) | postcard(body) | [HMAC tag (32)]
//! ```
//! `body` = header, key, guards, meta, artifact (as a byte string, so it decodes by memcpy).
//! Flag bit 0 says the file ends with an HMAC-SHA256 tag over everything before it. The file
//! name is the sha256 of all of the file's bytes, tag included.
use hmac::{Hmac, Mac};
use kiln_shape::GuardSet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::entry::{Entry, EntryHeader, EntryMeta};
use crate::key::CacheKey;

pub const MAGIC: [u8; 8] = *b"KILNCENT";
/// The on-disk format of entry files and of the directory layout (`<dir>/v<FORMAT_VERSION>`).
pub const FORMAT_VERSION: u32 = 1;
const PREFIX_LEN: usize = MAGIC.len() + 4 + 1;
const FLAG_SIGNED: u8 = 1;
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize)]
struct BodyOut<'a> {
    header: &'a EntryHeader,
    key: &'a CacheKey,
    guards: &'a GuardSet,
    meta: &'a EntryMeta,
    #[serde(with = "byte_string")]
    artifact: &'a [u8],
}

#[derive(Deserialize)]
struct BodyIn<'a> {
    header: EntryHeader,
    key: CacheKey,
    guards: GuardSet,
    meta: EntryMeta,
    #[serde(borrow)]
    artifact: &'a [u8],
}

/// Serializes a slice as one byte string (postcard: length + raw bytes) instead of a sequence
/// of u8 values, which decodes byte by byte.
pub(crate) mod byte_string {
    pub fn serialize<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }
}

/// Why an entry file was refused. Every variant means: never served, counted, removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    HashMismatch {
        actual: String,
    },
    Truncated,
    BadMagic,
    UnsupportedFormat(u32),
    UnknownFlags(u8),
    /// A secret is configured but the entry carries no signature.
    Unsigned,
    BadSignature,
    Decode(String),
    KeyMismatch {
        found: CacheKey,
    },
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::HashMismatch { actual } => {
                write!(f, "content hash {actual} does not match the file name")
            }
            Reject::Truncated => f.write_str("file too short for an entry"),
            Reject::BadMagic => f.write_str("not a kiln cache entry (bad magic bytes)"),
            Reject::UnsupportedFormat(v) => {
                write!(
                    f,
                    "entry file format {v}, this build reads {FORMAT_VERSION}"
                )
            }
            Reject::UnknownFlags(flags) => write!(f, "unknown flag bits {flags:#04x}"),
            Reject::Unsigned => f.write_str("unsigned entry, but KILN_CACHE_SECRET is set"),
            Reject::BadSignature => f.write_str("HMAC signature does not verify with this secret"),
            Reject::Decode(why) => write!(f, "cannot decode the entry: {why}"),
            Reject::KeyMismatch { found } => write!(f, "entry belongs to key {found}"),
        }
    }
}

/// The hex sha256 of some bytes: the name of an entry file.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// HMAC-SHA256 accepts keys of any length, so `None` never happens in practice; callers still
/// treat it as a failure instead of panicking.
fn new_mac(secret: &[u8]) -> Option<HmacSha256> {
    <HmacSha256 as Mac>::new_from_slice(secret).ok()
}

/// The file bytes of `entry` and their content hash (its file name); signed when `secret` is set.
pub fn encode(entry: &Entry, secret: Option<&[u8]>) -> Result<(String, Vec<u8>), String> {
    let body = BodyOut {
        header: &entry.header,
        key: &entry.key,
        guards: &entry.guards,
        meta: &entry.meta,
        artifact: &entry.artifact,
    };
    let mut bytes = Vec::with_capacity(PREFIX_LEN + entry.artifact.len() + 256 + TAG_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.push(if secret.is_some() { FLAG_SIGNED } else { 0 });
    let mut bytes = postcard::to_extend(&body, bytes).map_err(|e| e.to_string())?;
    if let Some(secret) = secret {
        let mut mac = new_mac(secret).ok_or("the secret is not a usable HMAC key")?;
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
    }
    Ok((content_hash(&bytes), bytes))
}

/// Checks and decodes an entry file read under `name` for `key`: content hash, magic, format,
/// signature (required when `secret` is set), decoding with no trailing bytes, and the key.
pub fn decode(
    bytes: &[u8],
    name: &str,
    key: &CacheKey,
    secret: Option<&[u8]>,
) -> Result<Entry, Reject> {
    let actual = content_hash(bytes);
    if actual != name {
        return Err(Reject::HashMismatch { actual });
    }
    let body = checked_body(bytes, secret)?;
    let (decoded, rest) =
        postcard::take_from_bytes::<BodyIn<'_>>(body).map_err(|e| Reject::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Reject::Decode(format!("{} trailing bytes", rest.len())));
    }
    if decoded.key != *key {
        return Err(Reject::KeyMismatch { found: decoded.key });
    }
    Ok(Entry {
        header: decoded.header,
        key: decoded.key,
        guards: decoded.guards,
        artifact: decoded.artifact.to_vec(),
        meta: decoded.meta,
    })
}

/// The postcard body after checking prefix and signature.
fn checked_body<'a>(bytes: &'a [u8], secret: Option<&[u8]>) -> Result<&'a [u8], Reject> {
    let Some((prefix, rest)) = bytes.split_at_checked(PREFIX_LEN) else {
        return Err(Reject::Truncated);
    };
    if prefix[..MAGIC.len()] != MAGIC {
        return Err(Reject::BadMagic);
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&prefix[MAGIC.len()..MAGIC.len() + 4]);
    let version = u32::from_le_bytes(version);
    if version != FORMAT_VERSION {
        return Err(Reject::UnsupportedFormat(version));
    }
    let flags = prefix[PREFIX_LEN - 1];
    if flags & !FLAG_SIGNED != 0 {
        return Err(Reject::UnknownFlags(flags));
    }
    if flags & FLAG_SIGNED == 0 {
        return match secret {
            Some(_) => Err(Reject::Unsigned),
            None => Ok(rest),
        };
    }
    let Some(signed_len) = bytes
        .len()
        .checked_sub(TAG_LEN)
        .filter(|&n| n >= PREFIX_LEN)
    else {
        return Err(Reject::Truncated);
    };
    let (signed, tag) = bytes.split_at(signed_len);
    if let Some(secret) = secret {
        let mut mac = new_mac(secret).ok_or(Reject::BadSignature)?;
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| Reject::BadSignature)?;
    }
    Ok(&signed[PREFIX_LEN..])
}

/// Only the header of an entry file (no hash or signature check): cheap statistics.
pub fn peek_header(bytes: &[u8]) -> Option<EntryHeader> {
    let body = checked_body(bytes, None).ok()?;
    postcard::take_from_bytes::<EntryHeader>(body)
        .ok()
        .map(|(h, _)| h)
}

/// The header, key and guards at the front of an entry file, without hash or signature checks:
/// what the guard index records. Never used to serve an entry.
pub(crate) fn peek_guarded(bytes: &[u8]) -> Option<(EntryHeader, CacheKey, GuardSet)> {
    let body = checked_body(bytes, None).ok()?;
    postcard::take_from_bytes::<(EntryHeader, CacheKey, GuardSet)>(body)
        .ok()
        .map(|(front, _)| front)
}
