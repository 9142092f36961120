//! The byte-level storage level under [`crate::Cache`]. The disk is the default; a remote
//! level (Redis) or a fault-injecting test level implements the same trait, and the guarded
//! logic above it (hashing, signatures, guards, counters) stays the same.
use std::time::SystemTime;

use crate::error::StorageError;
use crate::key::CacheKey;

/// One stored entry file as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub key: CacheKey,
    /// The content hash (hex sha256 of the bytes), which is also the file name.
    pub name: String,
    pub size: u64,
    /// Last hit or write; eviction removes the oldest first.
    pub last_use: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written. `total_bytes` is the level's new total when it keeps one cheaply.
    Stored { total_bytes: Option<u64> },
    /// A file with this content hash was already there (same bytes): nothing written.
    AlreadyPresent,
}

/// What an eviction or prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Eviction {
    pub removed_entries: u64,
    pub removed_bytes: u64,
    pub remaining_entries: u64,
    pub remaining_bytes: u64,
    /// Leftover temporary files of dead writers.
    pub temp_files_removed: u64,
}

/// Entry files addressed by (key, content hash). Implementations must make `save` atomic:
/// a reader sees the whole file or nothing.
pub trait Storage: Send + Sync {
    /// Where this level stores, for messages ("/home/u/.cache/kiln/v1", "redis://…").
    fn location(&self) -> String;
    /// The content hashes stored under `key`, sorted; empty when the key is unknown.
    fn entry_names(&self, key: &CacheKey) -> Result<Vec<String>, StorageError>;
    fn read(&self, key: &CacheKey, name: &str) -> Result<Vec<u8>, StorageError>;
    fn save(&self, key: &CacheKey, name: &str, bytes: &[u8]) -> Result<SaveOutcome, StorageError>;
    /// Marks the entry as just used (LRU).
    fn touch(&self, key: &CacheKey, name: &str) -> Result<(), StorageError>;
    /// Removes the entry; removing a missing entry is not an error.
    fn remove(&self, key: &CacheKey, name: &str) -> Result<(), StorageError>;
    /// The key's guard index (see `index.rs`), if this level keeps one and it exists.
    fn read_index(&self, _key: &CacheKey) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
    /// Replaces the key's guard index atomically; a level without indexes ignores it.
    fn write_index(&self, _key: &CacheKey, _bytes: &[u8]) -> Result<(), StorageError> {
        Ok(())
    }
    /// Every entry file, in no particular order.
    fn list(&self) -> Result<Vec<StoredFile>, StorageError>;
    /// Removes every entry.
    fn clear(&self) -> Result<(), StorageError>;
    /// Removes least-recently-used entries until at most `target` bytes remain, never the
    /// `keep` entry (the one just written).
    fn evict_to(
        &self,
        target: u64,
        keep: Option<(&CacheKey, &str)>,
    ) -> Result<Eviction, StorageError> {
        let files = self.list()?;
        let mut eviction = Eviction::default();
        for file in lru_victims(files, target, keep, &mut eviction) {
            match self.remove(&file.key, &file.name) {
                Ok(()) => {
                    eviction.removed_entries += 1;
                    eviction.removed_bytes = eviction.removed_bytes.saturating_add(file.size);
                }
                Err(_) => {
                    eviction.remaining_entries += 1;
                    eviction.remaining_bytes = eviction.remaining_bytes.saturating_add(file.size);
                }
            }
        }
        Ok(eviction)
    }
}

/// Splits `files` into the ones to remove (returned, oldest first) and the ones that stay
/// (added to `eviction.remaining_*`), so that at most `target` bytes stay.
pub(crate) fn lru_victims(
    mut files: Vec<StoredFile>,
    target: u64,
    keep: Option<(&CacheKey, &str)>,
    eviction: &mut Eviction,
) -> Vec<StoredFile> {
    // Oldest first; ties broken by name so that the choice is deterministic.
    files.sort_by(|a, b| (a.last_use, a.key, &a.name).cmp(&(b.last_use, b.key, &b.name)));
    let mut total: u64 = files.iter().map(|f| f.size).fold(0, u64::saturating_add);
    let mut victims = Vec::new();
    for file in files {
        let kept = keep.is_some_and(|(k, n)| *k == file.key && n == file.name);
        if total > target && !kept {
            total = total.saturating_sub(file.size);
            victims.push(file);
        } else {
            eviction.remaining_entries += 1;
            eviction.remaining_bytes = eviction.remaining_bytes.saturating_add(file.size);
        }
    }
    victims
}
