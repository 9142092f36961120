//! Export and import of the whole cache as one portable bundle file:
//! `"KILNBNDL" | u32 LE version | postcard(list of (key, content hash, file bytes))`.
//! Entry files travel byte for byte, so signatures and hashes are checked again on import.
use serde::Serialize;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::admin::BadEntry;
use crate::bundle_read::{BadBundle, BundleReader, ItemHead, check_structure};
use crate::cache::{Cache, save_and_evict};
use crate::codec::{byte_string, decode};
use crate::counters::Event;
use crate::error::CacheError;
use crate::index::{self, IndexRecord};
use crate::key::{CacheKey, is_hex_name};
use crate::storage::SaveOutcome;

pub const BUNDLE_MAGIC: [u8; 8] = *b"KILNBNDL";
pub const BUNDLE_VERSION: u32 = 1;

#[derive(Serialize)]
struct ItemOut<'a> {
    key: CacheKey,
    hash: &'a str,
    #[serde(with = "byte_string")]
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
        self.flush();
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
    /// reported and skipped; a file that is not a bundle at all (bad prefix, a length past
    /// its end, trailing bytes) is an error before anything is stored. The bundle is read as
    /// a stream, one entry in memory at a time, and each key's guard index is written once.
    pub fn import(&self, path: &Path) -> Result<ImportReport, CacheError> {
        self.flush();
        let bad_bundle = |error: BadBundle| match error {
            BadBundle::Io(e) => CacheError::io(path, "read the bundle", e),
            BadBundle::Format(reason) => CacheError::BadBundle {
                path: path.to_path_buf(),
                reason,
            },
            BadBundle::TooLarge => CacheError::BadBundle {
                path: path.to_path_buf(),
                reason: "an entry too large for this machine".to_string(),
            },
        };
        let (mut reader, count) = BundleReader::open(path).map_err(bad_bundle)?;
        check_structure(&mut reader, count).map_err(bad_bundle)?;
        let count = reader.rewind().map_err(bad_bundle)?;
        let mut report = ImportReport::default();
        let mut indexed: HashMap<CacheKey, Vec<IndexRecord>> = HashMap::new();
        let mut outcome = Ok(());
        for _ in 0..count {
            let head = reader.head().map_err(bad_bundle)?;
            if head.len > self.max_size {
                reader.skip(head.len).map_err(bad_bundle)?;
                report.too_large += 1;
                continue;
            }
            let bytes = reader.bytes(head.len).map_err(bad_bundle)?;
            if let Err(error) = self.import_one(&head, &bytes, &mut report, &mut indexed) {
                outcome = Err(error);
                break;
            }
        }
        for (key, records) in indexed {
            index::add_records(self.storage.as_ref(), &key, records);
        }
        outcome.map(|()| report)
    }

    /// Verifies and stores one bundle entry, noting its index record.
    fn import_one(
        &self,
        head: &ItemHead,
        bytes: &[u8],
        report: &mut ImportReport,
        indexed: &mut HashMap<CacheKey, Vec<IndexRecord>>,
    ) -> Result<(), CacheError> {
        let reject = |reason: String| BadEntry {
            key: Some(head.key),
            hash: head.hash.chars().take(64).collect(),
            reason,
        };
        if !is_hex_name(&head.hash) {
            report
                .rejected
                .push(reject("entry name is not a sha256".to_string()));
            return Ok(());
        }
        if let Err(why) = decode(bytes, &head.hash, &head.key, self.secret.as_deref()) {
            self.counters.record(Event::Corrupt);
            report.rejected.push(reject(why.to_string()));
            return Ok(());
        }
        let saved = save_and_evict(
            self.storage.as_ref(),
            &self.counters,
            self.max_size,
            &head.key,
            &head.hash,
            bytes,
        )?;
        match saved {
            SaveOutcome::Stored { .. } => report.imported += 1,
            SaveOutcome::AlreadyPresent => report.already_present += 1,
        }
        if let Some(record) = index::record_of(&head.hash, bytes, &head.key) {
            indexed.entry(head.key).or_default().push(record);
        }
        Ok(())
    }
}
