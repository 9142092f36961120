//! The per-key guard index: one small file per key listing each entry's name, header and
//! guards, so that a lookup evaluates every entry's guards from one read and then reads,
//! verifies and decodes only the entry whose guards hold. Without it a hit on the last of 100
//! entries read, hashed and decoded all 100 (about 1 ms).
//!
//! The index is a hint, never trusted to serve: an entry it points to is still fully verified
//! (content hash, signature, key, header) and its verified guards are checked again before
//! `accept` sees it. A missing, stale or damaged index only costs the slow path: entries it
//! does not list are read in full, and the index is rewritten to include them. Writers do a
//! read-modify-write under no lock, so two concurrent puts can drop one record; the next
//! lookup that reads that entry in full restores it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kiln_shape::GuardSet;
use serde::{Deserialize, Serialize};

use crate::codec::peek_guarded;
use crate::entry::EntryHeader;
use crate::key::CacheKey;
use crate::storage::Storage;

const INDEX_MAGIC: [u8; 8] = *b"KILNGIDX";
const INDEX_VERSION: u32 = 1;

/// What the index knows of one entry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexRecord {
    pub name: String,
    pub header: EntryHeader,
    pub guards: GuardSet,
}

type Records = Arc<HashMap<String, IndexRecord>>;
/// Per key: the index bytes and what they decoded to.
type DecodedMemo = HashMap<CacheKey, (Vec<u8>, Records)>;

/// The decoded index of one key, by entry name.
#[derive(Debug, Default)]
pub(crate) struct GuardIndex {
    records: Records,
}

/// Indexes decoded in this process, with the exact bytes they were decoded from: a lookup
/// still reads the index file (a few µs) but decodes its 100 guard sets (tens of µs) only
/// when the bytes changed. Comparing bytes, not timestamps, makes a stale memo impossible.
static DECODED: Mutex<Option<DecodedMemo>> = Mutex::new(None);
/// Keys memoized at most; the memo is dropped when full (simple, and rare).
const MAX_DECODED: usize = 1024;

fn decoded(key: &CacheKey, bytes: &[u8]) -> Option<Records> {
    let memo = DECODED.lock().ok()?;
    let (seen, records) = memo.as_ref()?.get(key)?;
    (seen.as_slice() == bytes).then(|| records.clone())
}

fn remember(key: &CacheKey, bytes: Vec<u8>, records: &Records) {
    let Ok(mut memo) = DECODED.lock() else {
        return;
    };
    let memo = memo.get_or_insert_with(HashMap::new);
    if memo.len() >= MAX_DECODED {
        memo.clear();
    }
    memo.insert(*key, (bytes, records.clone()));
}

impl GuardIndex {
    /// The stored index of `key`; empty when there is none or it cannot be read or decoded.
    pub(crate) fn load(storage: &dyn Storage, key: &CacheKey) -> GuardIndex {
        let bytes = match storage.read_index(key) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return GuardIndex::default(),
            Err(error) => {
                tracing::debug!("kiln cache: guard index of {key} unreadable: {error}");
                return GuardIndex::default();
            }
        };
        if let Some(records) = decoded(key, &bytes) {
            return GuardIndex { records };
        }
        let records: Records = Arc::new(match decode(&bytes) {
            Some(records) => records.into_iter().map(|r| (r.name.clone(), r)).collect(),
            None => {
                tracing::debug!("kiln cache: guard index of {key} undecodable, ignored");
                HashMap::new()
            }
        });
        remember(key, bytes, &records);
        GuardIndex { records }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&IndexRecord> {
        self.records.get(name)
    }

    /// The indexed entry names, sorted (the order a full lookup walks them in).
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.records.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn insert(&mut self, record: IndexRecord) {
        Arc::make_mut(&mut self.records).insert(record.name.clone(), record);
    }

    /// Writes the records of the names in `listed` (sorted) as the key's index.
    pub(crate) fn store(&self, storage: &dyn Storage, key: &CacheKey, listed: &[String]) {
        let records: Vec<&IndexRecord> = listed.iter().filter_map(|n| self.get(n)).collect();
        let Some(bytes) = encode(&records) else {
            return;
        };
        if let Err(error) = storage.write_index(key, &bytes) {
            tracing::debug!("kiln cache: guard index of {key} not written: {error}");
        }
    }
}

/// The index record of an entry file's bytes (ones this process just wrote or verified).
pub(crate) fn record_of(name: &str, bytes: &[u8], key: &CacheKey) -> Option<IndexRecord> {
    let (header, found, guards) = peek_guarded(bytes)?;
    (found == *key).then(|| IndexRecord {
        name: name.to_string(),
        header,
        guards,
    })
}

/// Adds the entry `name` just stored under `key` to the key's index.
pub(crate) fn add_stored(storage: &dyn Storage, key: &CacheKey, name: &str, bytes: &[u8]) {
    if let Some(record) = record_of(name, bytes, key) {
        add_records(storage, key, vec![record]);
    }
}

/// Adds `records` of entries stored under `key` to its index: one read and one write of the
/// index however many records.
pub(crate) fn add_records(storage: &dyn Storage, key: &CacheKey, records: Vec<IndexRecord>) {
    let mut index = GuardIndex::load(storage, key);
    let mut changed = false;
    for record in records {
        if index.get(&record.name) != Some(&record) {
            index.insert(record);
            changed = true;
        }
    }
    if !changed {
        return;
    }
    match storage.entry_names(key) {
        Ok(listed) => index.store(storage, key, &listed),
        Err(error) => tracing::debug!("kiln cache: cannot list {key} to index it: {error}"),
    }
}

fn encode(records: &[&IndexRecord]) -> Option<Vec<u8>> {
    let mut bytes = INDEX_MAGIC.to_vec();
    bytes.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    postcard::to_extend(records, bytes).ok()
}

fn decode(bytes: &[u8]) -> Option<Vec<IndexRecord>> {
    let rest = bytes.strip_prefix(&INDEX_MAGIC)?;
    let (version, body) = rest.split_at_checked(4)?;
    if version != INDEX_VERSION.to_le_bytes() {
        return None;
    }
    let (records, trailing) = postcard::take_from_bytes::<Vec<IndexRecord>>(body).ok()?;
    trailing.is_empty().then_some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_bytes_round_trip_and_refuse_damage() {
        let record = IndexRecord {
            name: "a".repeat(64),
            header: EntryHeader {
                format_version: 1,
                kiln_version: "k".into(),
                backend: "cpu".into(),
                target: "t".into(),
            },
            guards: GuardSet::new(Vec::new()),
        };
        let bytes = encode(&[&record]).unwrap();
        assert_eq!(decode(&bytes), Some(vec![record]));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        let mut wrong_version = bytes.clone();
        wrong_version[8] ^= 1;
        assert_eq!(decode(&wrong_version), None);
        assert_eq!(decode(b"KILNCENT"), None);
    }
}
