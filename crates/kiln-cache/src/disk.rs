//! The on-disk level: `<root>/<key[0:2]>/<key>/<content hash>`, where `root` is
//! `<cache dir>/v<FORMAT_VERSION>`. See doc/FORMAT.md.
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::StorageError;
use crate::key::{CacheKey, is_hex_name, is_shard_name};
use crate::listing::ListingMemo;
use crate::storage::{Eviction, SaveOutcome, Storage, StoredFile, lru_victims};
use crate::trust::{create_private_dir_all, current_uid, file_trust_problem, open_private_rw};

/// Temporary files start with this; they are never listed as entries.
pub const TEMP_PREFIX: &str = ".tmp-";
/// A temporary file older than this belongs to a dead writer and may be removed.
pub const TEMP_MAX_AGE: Duration = Duration::from_secs(5 * 60);
const SIZE_FILE: &str = "size";
/// The guard index inside a key directory: not a hex name, so never listed as an entry, and
/// hidden like temporary files.
pub(crate) const INDEX_FILE: &str = ".guards.idx";

pub struct DiskStorage {
    root: PathBuf,
    uid: u32,
    listings: ListingMemo,
}

impl std::fmt::Debug for DiskStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStorage")
            .field("root", &self.root)
            .finish()
    }
}

impl DiskStorage {
    /// A level rooted at `root` (`<cache dir>/v<FORMAT_VERSION>`), created on first write.
    pub fn new(root: PathBuf) -> DiskStorage {
        DiskStorage {
            root,
            uid: current_uid(),
            listings: ListingMemo::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn key_dir(&self, key: &CacheKey) -> PathBuf {
        self.root.join(key.shard()).join(key.to_hex())
    }

    fn io_error(path: &Path, action: &'static str, source: io::Error) -> StorageError {
        StorageError::io(path.display().to_string(), action, source)
    }

    /// The size file, locked exclusively until the returned handle drops. It holds the total
    /// bytes of entry files as 8 little-endian bytes, kept up to date by save/remove and
    /// recounted exactly by every eviction; a killed writer can leave it slightly off.
    fn lock_size(&self) -> Result<SizeFile, StorageError> {
        let path = self.root.join(SIZE_FILE);
        create_private_dir_all(&self.root).map_err(|e| Self::io_error(&self.root, "create", e))?;
        let file = open_private_rw(&path).map_err(|e| Self::io_error(&path, "open", e))?;
        file.lock().map_err(|e| Self::io_error(&path, "lock", e))?;
        Ok(SizeFile { file, path })
    }

    /// Adds `delta` to the size file; a missing or unreadable total is recounted.
    fn adjust_size(&self, delta: i64) -> Result<u64, StorageError> {
        let size = self.lock_size()?;
        let total = match size.read() {
            Some(old) => old.saturating_add_signed(delta),
            None => self
                .scan(false)?
                .0
                .iter()
                .map(|f| f.size)
                .fold(0, u64::saturating_add),
        };
        size.write(total)?;
        Ok(total)
    }

    /// Every entry file; with `clean_temps`, also removes temporary files of dead writers and
    /// returns how many.
    fn scan(&self, clean_temps: bool) -> Result<(Vec<StoredFile>, u64), StorageError> {
        let mut files = Vec::new();
        let mut temps_removed = 0;
        for shard in read_dir_names(&self.root)?
            .into_iter()
            .filter(|n| is_shard_name(n))
        {
            let shard_dir = self.root.join(&shard);
            for key_name in read_dir_names(&shard_dir)? {
                let Ok(key) = CacheKey::from_hex(&key_name) else {
                    continue;
                };
                if key.shard() != shard {
                    continue;
                }
                let key_dir = shard_dir.join(&key_name);
                if clean_temps {
                    temps_removed += remove_stale_temps(&key_dir);
                }
                for name in read_dir_names(&key_dir)?
                    .into_iter()
                    .filter(|n| is_hex_name(n))
                {
                    let path = key_dir.join(&name);
                    // Not following links: a symlink is never an entry.
                    let Ok(meta) = fs::symlink_metadata(&path) else {
                        continue;
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    files.push(StoredFile {
                        key,
                        name,
                        size: meta.len(),
                        last_use: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        Ok((files, temps_removed))
    }

    /// Removes an entry file and, when they become empty, its key and shard directories
    /// (a concurrent writer recreates them; see `write_temp`).
    fn remove_file_and_empty_dirs(&self, key: &CacheKey, name: &str) -> Result<bool, StorageError> {
        let key_dir = self.key_dir(key);
        self.listings.forget(key);
        let path = key_dir.join(name);
        let removed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Self::io_error(&path, "remove", e)),
        };
        // A key directory left with only its guard index goes too.
        if read_dir_names(&key_dir).is_ok_and(|names| names == [INDEX_FILE]) {
            let _ = fs::remove_file(key_dir.join(INDEX_FILE));
        }
        // Fails harmlessly when not empty.
        if fs::remove_dir(&key_dir).is_ok()
            && let Some(shard) = key_dir.parent()
        {
            let _ = fs::remove_dir(shard);
        }
        Ok(removed)
    }

    /// Reads a file of the cache that must be ours alone: no symbolic link, owned by us, not
    /// writable by group or others.
    fn read_trusted(&self, path: &Path) -> Result<Vec<u8>, StorageError> {
        let untrusted = |reason: String| StorageError::Untrusted {
            location: path.display().to_string(),
            reason,
        };
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(untrusted("a symbolic link".to_string()));
            }
            Err(e) => return Err(Self::io_error(path, "open", e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Self::io_error(path, "inspect", e))?;
        if let Some(reason) = file_trust_problem(&meta, self.uid) {
            return Err(untrusted(reason));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| Self::io_error(path, "read", e))?;
        Ok(bytes)
    }

    /// Writes `bytes` to a fresh temporary file in `dir`, fsynced.
    fn write_temp(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf, StorageError> {
        let temp = dir.join(temp_file_name());
        let mut attempt = 0;
        let mut file = loop {
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp);
            match opened {
                Ok(file) => break file,
                // An eviction removed the empty directory between our mkdir and open.
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => {
                    attempt += 1;
                    create_private_dir_all(dir).map_err(|e| Self::io_error(dir, "create", e))?;
                }
                Err(e) => return Err(Self::io_error(&temp, "create", e)),
            }
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Self::io_error(&temp, "write", e));
        }
        Ok(temp)
    }
}

struct SizeFile {
    file: File,
    path: PathBuf,
}

impl SizeFile {
    fn read(&self) -> Option<u64> {
        let mut bytes = [0u8; 8];
        let len = self.file.metadata().ok()?.len();
        if len != 8 {
            return None;
        }
        self.file.read_exact_at(&mut bytes, 0).ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    fn write(&self, total: u64) -> Result<(), StorageError> {
        self.file
            .write_all_at(&total.to_le_bytes(), 0)
            .and_then(|()| self.file.set_len(8))
            .map_err(|e| DiskStorage::io_error(&self.path, "write", e))
    }
}

impl Storage for DiskStorage {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn entry_names(&self, key: &CacheKey) -> Result<Vec<String>, StorageError> {
        let dir = self.key_dir(key);
        let listed_at = SystemTime::now();
        let meta = match fs::metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.listings.forget(key);
                return Ok(Vec::new());
            }
            Err(e) => return Err(Self::io_error(&dir, "inspect", e)),
        };
        if let Some(names) = self.listings.get(key, &meta) {
            return Ok(names);
        }
        let mut names: Vec<String> = read_dir_names(&dir)?
            .into_iter()
            .filter(|n| is_hex_name(n))
            .collect();
        names.sort_unstable();
        self.listings.put(key, &meta, listed_at, &names);
        Ok(names)
    }

    fn read(&self, key: &CacheKey, name: &str) -> Result<Vec<u8>, StorageError> {
        self.read_trusted(&self.key_dir(key).join(name))
    }

    fn read_index(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StorageError> {
        match self.read_trusted(&self.key_dir(key).join(INDEX_FILE)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn write_index(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), StorageError> {
        let dir = self.key_dir(key);
        let target = dir.join(INDEX_FILE);
        let temp = self.write_temp(&dir, bytes)?;
        fs::rename(&temp, &target).map_err(|e| {
            let _ = fs::remove_file(&temp);
            Self::io_error(&target, "publish", e)
        })
    }

    fn save(&self, key: &CacheKey, name: &str, bytes: &[u8]) -> Result<SaveOutcome, StorageError> {
        let dir = self.key_dir(key);
        self.listings.forget(key);
        create_private_dir_all(&dir).map_err(|e| Self::io_error(&dir, "create", e))?;
        remove_stale_temps(&dir);
        let target = dir.join(name);
        let temp = self.write_temp(&dir, bytes)?;
        // A hard link publishes atomically and, unlike rename, refuses to replace: it tells
        // us exactly whether this content was new, which keeps the size total honest.
        let published = match fs::hard_link(&temp, &target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // File systems without hard links: rename (atomic, replaces identical content).
            Err(_) => fs::rename(&temp, &target).map(|()| true),
        };
        let _ = fs::remove_file(&temp);
        match published {
            Ok(true) => {
                let delta = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
                Ok(SaveOutcome::Stored {
                    total_bytes: self.adjust_size(delta).ok(),
                })
            }
            Ok(false) => {
                self.touch(key, name)?;
                Ok(SaveOutcome::AlreadyPresent)
            }
            Err(e) => Err(Self::io_error(&target, "publish", e)),
        }
    }

    fn touch(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        let path = self.key_dir(key).join(name);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Self::io_error(&path, "open", e))?;
        file.set_modified(SystemTime::now())
            .map_err(|e| Self::io_error(&path, "set the modification time of", e))
    }

    fn remove(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        let size = fs::symlink_metadata(self.key_dir(key).join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        if self.remove_file_and_empty_dirs(key, name)? {
            let _ = self.adjust_size(-i64::try_from(size).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        Ok(self.scan(false)?.0)
    }

    fn clear(&self) -> Result<(), StorageError> {
        let size = self.lock_size()?;
        self.listings.forget_all();
        for shard in read_dir_names(&self.root)?
            .into_iter()
            .filter(|n| is_shard_name(n))
        {
            let path = self.root.join(shard);
            match fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Self::io_error(&path, "remove", e)),
            }
        }
        size.write(0)
    }

    fn evict_to(
        &self,
        target: u64,
        keep: Option<(&CacheKey, &str)>,
    ) -> Result<Eviction, StorageError> {
        // One evicter at a time; savers wait only for the size update, not for the scan's end.
        let size = self.lock_size()?;
        let (files, temps_removed) = self.scan(true)?;
        let mut eviction = Eviction {
            temp_files_removed: temps_removed,
            ..Eviction::default()
        };
        for file in lru_victims(files, target, keep, &mut eviction) {
            match self.remove_file_and_empty_dirs(&file.key, &file.name) {
                Ok(true) => {
                    eviction.removed_entries += 1;
                    eviction.removed_bytes = eviction.removed_bytes.saturating_add(file.size);
                }
                // Already gone: removed by another process.
                Ok(false) => {}
                Err(_) => {
                    eviction.remaining_entries += 1;
                    eviction.remaining_bytes = eviction.remaining_bytes.saturating_add(file.size);
                }
            }
        }
        size.write(eviction.remaining_bytes)?;
        Ok(eviction)
    }
}

/// Names in `dir`; a missing directory has none.
fn read_dir_names(dir: &Path) -> Result<Vec<String>, StorageError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DiskStorage::io_error(dir, "list", e)),
    };
    Ok(entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect())
}

/// Removes temporary files in `dir` older than [`TEMP_MAX_AGE`]; returns how many.
fn remove_stale_temps(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age > TEMP_MAX_AGE)
            });
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `.tmp-<pid>-<random>`: unique across processes and threads.
fn temp_file_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    format!(
        "{TEMP_PREFIX}{}-{:016x}",
        std::process::id(),
        hasher.finish()
    )
}
