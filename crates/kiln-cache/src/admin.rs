//! Inspection and maintenance: list, stats, verify, prune, keys, entries for explain.
use kiln_shape::GuardSet;
use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::cache::Cache;
use crate::codec::{decode, peek_header};
use crate::counters::Event;
use crate::entry::{Entry, EntryHeader};
use crate::error::CacheError;
use crate::key::CacheKey;
use crate::storage::Eviction;

/// One stored entry, for `kiln cache list`. Decoded fields are `None` when `problem` says
/// why the entry could not be read or verified.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryInfo {
    pub key: CacheKey,
    /// The content hash: sha256 of the file, and its name.
    pub hash: String,
    pub size: u64,
    pub last_use: SystemTime,
    pub header: Option<EntryHeader>,
    pub graph_name: Option<String>,
    pub created_unix_ms: Option<u64>,
    pub guards: Option<GuardSet>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendStats {
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub bytes: u64,
    pub keys: u64,
    pub max_size: u64,
    /// By the backend named in each entry's header.
    pub per_backend: BTreeMap<String, BackendStats>,
    /// Entries whose header cannot be read.
    pub unreadable: u64,
}

/// An entry refused by [`Cache::verify`] or an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub key: Option<CacheKey>,
    pub hash: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub checked: u64,
    pub ok: u64,
    /// Refused entries, all removed.
    pub removed: Vec<BadEntry>,
}

pub type PruneReport = Eviction;

impl Cache {
    /// Every entry with its decoded summary, sorted by key then hash. Changes nothing.
    pub fn list(&self) -> Result<Vec<EntryInfo>, CacheError> {
        self.flush();
        let mut files = self.storage.list()?;
        files.sort_by(|a, b| (a.key, &a.name).cmp(&(b.key, &b.name)));
        let mut infos = Vec::with_capacity(files.len());
        for file in files {
            let decoded = self
                .storage
                .read(&file.key, &file.name)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    decode(&bytes, &file.name, &file.key, self.secret.as_deref())
                        .map_err(|r| r.to_string())
                });
            let mut info = EntryInfo {
                key: file.key,
                hash: file.name,
                size: file.size,
                last_use: file.last_use,
                header: None,
                graph_name: None,
                created_unix_ms: None,
                guards: None,
                problem: None,
            };
            match decoded {
                Ok(entry) => {
                    info.header = Some(entry.header);
                    info.graph_name = Some(entry.meta.graph_name);
                    info.created_unix_ms = Some(entry.meta.created_unix_ms);
                    info.guards = Some(entry.guards);
                }
                Err(problem) => info.problem = Some(problem),
            }
            infos.push(info);
        }
        Ok(infos)
    }

    /// Entry count, bytes and per-backend counts. Reads every entry's header.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        self.flush();
        let files = self.storage.list()?;
        let mut stats = CacheStats {
            max_size: self.max_size,
            ..CacheStats::default()
        };
        let mut keys = std::collections::BTreeSet::new();
        for file in files {
            stats.entries += 1;
            stats.bytes = stats.bytes.saturating_add(file.size);
            keys.insert(file.key);
            let header = self
                .storage
                .read(&file.key, &file.name)
                .ok()
                .and_then(|bytes| peek_header(&bytes));
            match header {
                Some(header) => {
                    let backend = stats.per_backend.entry(header.backend).or_default();
                    backend.entries += 1;
                    backend.bytes = backend.bytes.saturating_add(file.size);
                }
                None => stats.unreadable += 1,
            }
        }
        stats.keys = u64::try_from(keys.len()).unwrap_or(u64::MAX);
        Ok(stats)
    }

    /// Checks every entry as a lookup would (hash, format, signature, key) and removes the
    /// bad ones, counting them as corrupt.
    pub fn verify(&self) -> Result<VerifyReport, CacheError> {
        self.flush();
        let mut report = VerifyReport::default();
        for file in self.storage.list()? {
            report.checked += 1;
            let problem = match self.storage.read(&file.key, &file.name) {
                Ok(bytes) => decode(&bytes, &file.name, &file.key, self.secret.as_deref())
                    .err()
                    .map(|r| r.to_string()),
                Err(e) if e.is_not_found() => {
                    report.checked -= 1;
                    continue;
                }
                Err(e) => Some(e.to_string()),
            };
            match problem {
                None => report.ok += 1,
                Some(reason) => {
                    self.counters.record(Event::Corrupt);
                    self.storage.remove(&file.key, &file.name)?;
                    report.removed.push(BadEntry {
                        key: Some(file.key),
                        hash: file.name,
                        reason,
                    });
                }
            }
        }
        Ok(report)
    }

    /// Evicts least-recently-used entries until at most `max_size` bytes remain, and removes
    /// temporary files of dead writers.
    pub fn prune(&self, max_size: u64) -> Result<PruneReport, CacheError> {
        self.flush();
        let report = self.storage.evict_to(max_size, None)?;
        self.counters
            .record_many(Event::Evicted, report.removed_entries);
        Ok(report)
    }

    /// Every key with at least one entry, sorted.
    pub fn keys(&self) -> Result<Vec<CacheKey>, CacheError> {
        self.flush();
        let mut keys: Vec<CacheKey> = self.storage.list()?.into_iter().map(|f| f.key).collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// The verified entries of `key` whatever their header, in lookup order, for explaining
    /// a miss. Unreadable entries are skipped; nothing is counted or removed.
    pub fn entries_for(&self, key: &CacheKey) -> Vec<Entry> {
        self.flush();
        let Ok(names) = self.storage.entry_names(key) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|name| {
                let bytes = self.storage.read(key, name).ok()?;
                decode(&bytes, name, key, self.secret.as_deref()).ok()
            })
            .collect()
    }
}
