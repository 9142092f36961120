//! Export and import of the whole cache as one portable bundle file:
//! `"KILNBNDL" | u32 LE version | postcard(list of (key, content hash, file bytes))`.
//! Entry files travel byte for byte, so signatures and hashes are checked again on import.
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

use crate::admin::BadEntry;
use crate::cache::Cache;
use crate::codec::{byte_string, decode};
use crate::counters::Event;
use crate::error::CacheError;
use crate::key::{CacheKey, is_hex_name};
use crate::storage::SaveOutcome;

pub const BUNDLE_MAGIC: [u8; 8] = *b"KILNBNDL";
pub const BUNDLE_VERSION: u32 = 1;
const BUNDLE_PREFIX_LEN: usize = 12;

#[derive(Serialize)]
struct ItemOut<'a> {
    key: CacheKey,
    hash: &'a str,
    #[serde(with = "byte_string")]
    bytes: &'a [u8],
}

#[derive(Deserialize)]
struct ItemIn<'a> {
    key: CacheKey,
    hash: &'a str,
    #[serde(borrow)]
    bytes: &'a [u8],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub already_present: u64,
    /// Entries larger than this cache's `max_size`.
    pub too_large: u64,
    pub rejected: Vec<BadEntry>,
}

impl Cache {
    /// Writes every verified entry into one bundle file at `path`; returns how many.
    pub fn export(&self, path: &Path) -> Result<usize, CacheError> {
        let mut files = self.storage.list()?;
        files.sort_by(|a, b| (a.key, &a.name).cmp(&(b.key, &b.name)));
        let mut contents = Vec::with_capacity(files.len());
        for file in files {
            let Ok(bytes) = self.storage.read(&file.key, &file.name) else {
                continue;
            };
            if decode(&bytes, &file.name, &file.key, self.secret.as_deref()).is_ok() {
                contents.push((file.key, file.name, bytes));
            }
        }
        let items: Vec<ItemOut<'_>> = contents
            .iter()
            .map(|(key, hash, bytes)| ItemOut {
                key: *key,
                hash,
                bytes,
            })
            .collect();
        let mut out = BUNDLE_MAGIC.to_vec();
        out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
        let out = postcard::to_extend(&items, out).map_err(|e| CacheError::Encode {
            key: "bundle".to_string(),
            reason: e.to_string(),
        })?;
        fs::write(path, out).map_err(|e| CacheError::io(path, "write the bundle", e))?;
        Ok(items.len())
    }

    /// Imports a bundle: each entry is verified like a lookup would (hash, format, signature
    /// when a secret is set, key) and stored by the normal write path. Bad entries are
    /// reported and skipped; a file that is not a bundle at all is an error.
    pub fn import(&self, path: &Path) -> Result<ImportReport, CacheError> {
        let bad_bundle = |reason: String| CacheError::BadBundle {
            path: path.to_path_buf(),
            reason,
        };
        let data = fs::read(path).map_err(|e| CacheError::io(path, "read the bundle", e))?;
        let Some((prefix, body)) = data.split_at_checked(BUNDLE_PREFIX_LEN) else {
            return Err(bad_bundle("too short".to_string()));
        };
        if prefix[..8] != BUNDLE_MAGIC {
            return Err(bad_bundle("bad magic bytes".to_string()));
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&prefix[8..12]);
        let version = u32::from_le_bytes(version);
        if version != BUNDLE_VERSION {
            return Err(bad_bundle(format!(
                "bundle version {version}, this build reads {BUNDLE_VERSION}"
            )));
        }
        let items: Vec<ItemIn<'_>> =
            postcard::from_bytes(body).map_err(|e| bad_bundle(format!("cannot decode: {e}")))?;
        let mut report = ImportReport::default();
        for item in items {
            let reject = |reason: String| BadEntry {
                key: Some(item.key),
                hash: item.hash.chars().take(64).collect(),
                reason,
            };
            if !is_hex_name(item.hash) {
                report
                    .rejected
                    .push(reject("entry name is not a sha256".to_string()));
                continue;
            }
            if let Err(why) = decode(item.bytes, item.hash, &item.key, self.secret.as_deref()) {
                self.counters.record(Event::Corrupt);
                report.rejected.push(reject(why.to_string()));
                continue;
            }
            if u64::try_from(item.bytes.len()).unwrap_or(u64::MAX) > self.max_size {
                report.too_large += 1;
                continue;
            }
            match self.store_bytes(&item.key, item.hash, item.bytes)? {
                SaveOutcome::Stored { .. } => report.imported += 1,
                SaveOutcome::AlreadyPresent => report.already_present += 1,
            }
        }
        Ok(report)
    }
}
