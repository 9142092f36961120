//! The on-disk level: `<root>/<key[0:2]>/<key>/<content hash>`, where `root` is
//! `<cache dir>/v<FORMAT_VERSION>`. Every directory below the cache directory is opened by
//! descriptor without following links and checked ([`TrustedDir`]). See doc/FORMAT.md.
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::StorageError;
use crate::fsat::{AtError, TrustedDir};
use crate::key::{CacheKey, is_hex_name, is_shard_name};
use crate::listing::{DirMemo, ListingMemo};
use crate::rmtree::remove_tree;
use crate::storage::{Eviction, SaveOutcome, Storage, StoredFile, lru_victims};
use crate::trust::current_uid;

/// Temporary files start with this; they are never listed as entries.
pub const TEMP_PREFIX: &str = ".tmp-";
/// A temporary file older than this belongs to a dead writer and may be removed.
pub const TEMP_MAX_AGE: Duration = Duration::from_secs(5 * 60);
const SIZE_FILE: &str = "size";
/// The guard index inside a key directory: not a hex name, so never listed as an entry, and
/// hidden like temporary files.
pub(crate) const INDEX_FILE: &str = ".guards.idx";
/// The largest guard index read: far above what 10,000 entries under one key need.
pub(crate) const INDEX_MAX_BYTES: u64 = 64 << 20;

pub struct DiskStorage {
    root: PathBuf,
    uid: u32,
    /// The largest entry file read; a larger one is refused and removed before allocating.
    max_file: u64,
    listings: ListingMemo,
    /// `root`, opened and checked once and reused while it stays linked.
    opened: Mutex<Option<Arc<TrustedDir>>>,
    key_dirs: DirMemo,
}

impl std::fmt::Debug for DiskStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStorage")
            .field("root", &self.root)
            .finish()
    }
}

/// The storage error of a failed operation on `name` in `dir`.
pub(crate) fn at_error(
    dir: &TrustedDir,
    name: &str,
    action: &'static str,
    e: AtError,
) -> StorageError {
    match e {
        AtError::Io(source) => StorageError::io(dir.display(name), action, source),
        AtError::Refused(refusal) => StorageError::Untrusted {
            location: dir.display(name),
            reason: refusal.to_string(),
        },
    }
}

/// Opens the chain `top/names[0]/names[1]/...`: the top by path, the rest by descriptor.
pub(crate) fn open_chain(
    top: &Path,
    names: &[&str],
    create: bool,
    uid: u32,
) -> Result<TrustedDir, StorageError> {
    if create {
        crate::trust::create_private_dir_all(top)
            .map_err(|e| StorageError::io(top.display().to_string(), "create", e))?;
    }
    let mut dir = TrustedDir::open_top(top, uid).map_err(|e| match e {
        AtError::Io(source) => StorageError::io(top.display().to_string(), "open", source),
        AtError::Refused(r) => StorageError::Untrusted {
            location: top.display().to_string(),
            reason: r.to_string(),
        },
    })?;
    for name in names {
        dir = dir
            .child(name, create)
            .map_err(|e| at_error(&dir, name, "open", e))?;
    }
    Ok(dir)
}

/// Opens a small read-write file (lock, size, counters); a link, FIFO or other non-regular
/// file planted at its name is removed and the file made afresh.
pub(crate) fn open_rw_replacing(
    dir: &TrustedDir,
    name: &str,
) -> Result<std::fs::File, StorageError> {
    match dir.open_rw(name) {
        Err(AtError::Refused(refusal)) if refusal.removable() => {
            tracing::warn!("kiln cache: {} is {refusal}, replaced", dir.display(name));
            remove_tree(dir, name).map_err(|e| StorageError::io(dir.display(name), "remove", e))?;
            dir.open_rw(name)
                .map_err(|e| at_error(dir, name, "open", e))
        }
        other => other.map_err(|e| at_error(dir, name, "open", e)),
    }
}

/// Reads `name` in `dir`, at most `cap` bytes. What kiln never writes there (a link, FIFO,
/// device, directory) or an oversized file is removed, and reported as untrusted.
pub(crate) fn read_capped(dir: &TrustedDir, name: &str, cap: u64) -> Result<Vec<u8>, StorageError> {
    match dir.read_file(name, cap) {
        Ok(bytes) => Ok(bytes),
        Err(AtError::Refused(refusal)) => {
            if refusal.removable() {
                let _ = remove_tree(dir, name);
            }
            Err(at_error(dir, name, "read", AtError::Refused(refusal)))
        }
        Err(e) => Err(at_error(dir, name, "read", e)),
    }
}

impl DiskStorage {
    /// A level rooted at `root` (`<cache dir>/v<FORMAT_VERSION>`), created on first write.
    pub fn new(root: PathBuf) -> DiskStorage {
        DiskStorage {
            root,
            uid: current_uid(),
            max_file: u64::MAX,
            listings: ListingMemo::default(),
            opened: Mutex::new(None),
            key_dirs: DirMemo::default(),
        }
    }

    /// Refuses (and removes) entry files larger than `max_file` bytes before reading them.
    pub fn with_max_file(mut self, max_file: u64) -> DiskStorage {
        self.max_file = max_file;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root directory; `None` when it does not exist and `create` is false.
    fn top(&self, create: bool) -> Result<Option<Arc<TrustedDir>>, StorageError> {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = opened.as_ref()
            && dir.is_linked()
        {
            return Ok(Some(dir.clone()));
        }
        let parent = self.root.parent().unwrap_or(Path::new("."));
        let name = self
            .root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("v1");
        match open_chain(parent, &[name], create, self.uid) {
            Ok(dir) => {
                let dir = Arc::new(dir);
                *opened = Some(dir.clone());
                Ok(Some(dir))
            }
            Err(e) if e.is_not_found() && !create => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key's directory; `None` when it does not exist and `create` is false. A lookup
    /// and a store use it several times: the descriptor opened (and checked) first is reused
    /// while the directory stays linked, one `fstat` instead of two opens and two checks.
    fn key_dir(
        &self,
        key: &CacheKey,
        create: bool,
    ) -> Result<Option<Arc<TrustedDir>>, StorageError> {
        if let Some(dir) = self.key_dirs.get(key) {
            return Ok(Some(dir));
        }
        let opened = self.open_key_dir(key, create)?.map(Arc::new);
        if let Some(dir) = &opened {
            self.key_dirs.put(key, dir);
        }
        Ok(opened)
    }

    fn open_key_dir(
        &self,
        key: &CacheKey,
        create: bool,
    ) -> Result<Option<TrustedDir>, StorageError> {
        let Some(top) = self.top(create)? else {
            return Ok(None);
        };
        let shard_name = key.shard();
        let shard = match top.child(&shard_name, create) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() && !create => return Ok(None),
            Err(e) => return Err(at_error(&top, &shard_name, "open", e)),
        };
        let hex = key.to_hex();
        match shard.child(&hex, create) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.is_not_found() && !create => Ok(None),
            Err(e) => Err(at_error(&shard, &hex, "open", e)),
        }
    }

    fn existing_key_dir(
        &self,
        key: &CacheKey,
        name: &str,
    ) -> Result<Arc<TrustedDir>, StorageError> {
        self.key_dir(key, false)?.ok_or_else(|| {
            let location = self.root.join(key.shard()).join(key.to_hex()).join(name);
            StorageError::io(
                location.display().to_string(),
                "open",
                io::ErrorKind::NotFound.into(),
            )
        })
    }

    /// The size file, locked exclusively until the returned handle drops. It holds the total
    /// bytes of entry files as 8 little-endian bytes, kept up to date by save/remove and
    /// recounted exactly by every eviction; a killed writer can leave it slightly off.
    fn lock_size(&self, top: &TrustedDir) -> Result<SizeFile, StorageError> {
        let file = open_rw_replacing(top, SIZE_FILE)?;
        file.lock()
            .map_err(|e| StorageError::io(top.display(SIZE_FILE), "lock", e))?;
        Ok(SizeFile {
            file,
            path: top.display(SIZE_FILE),
        })
    }

    /// Adds `delta` to the size file; a missing or unreadable total is recounted.
    fn adjust_size(&self, delta: i64) -> Result<u64, StorageError> {
        let Some(top) = self.top(true)? else {
            return Ok(0);
        };
        let size = self.lock_size(&top)?;
        let total = match size.read() {
            Some(old) => old.saturating_add_signed(delta),
            None => crate::scan::scan(&top, false)?
                .0
                .iter()
                .map(|f| f.size)
                .fold(0, u64::saturating_add),
        };
        size.write(total)?;
        Ok(total)
    }

    /// Removes an entry file and, when they become empty, its key and shard directories
    /// (a concurrent writer recreates them; see [`TrustedDir::child`]). Constant work however
    /// many names the key directory holds: emptiness is one short directory read.
    fn remove_file_and_empty_dirs(&self, key: &CacheKey, name: &str) -> Result<bool, StorageError> {
        self.listings.forget(key);
        let Some(dir) = self.key_dir(key, false)? else {
            return Ok(false);
        };
        let removed = match dir.unlink(name) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(StorageError::io(dir.display(name), "remove", e)),
        };
        // A key directory left with only its guard index goes too.
        if dir
            .has_names_other_than(&[INDEX_FILE])
            .is_ok_and(|other| !other)
        {
            let _ = dir.unlink(INDEX_FILE);
            if let Some(top) = self.top(false)?
                && let Ok(shard) = top.child(&key.shard(), false)
                && shard.rmdir(&key.to_hex()).is_ok()
            {
                // Fails harmlessly when not empty.
                let _ = top.rmdir(&key.shard());
            }
        }
        Ok(removed)
    }
}

struct SizeFile {
    file: std::fs::File,
    path: String,
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
        let io = |e| StorageError::io(self.path.clone(), "write", e);
        self.file
            .write_all_at(&total.to_le_bytes(), 0)
            .map_err(io)?;
        // Truncating (a journaled inode change) only when something longer was there.
        if self.file.metadata().map_err(io)?.len() != 8 {
            self.file.set_len(8).map_err(io)?;
        }
        Ok(())
    }
}

impl Storage for DiskStorage {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn entry_names(&self, key: &CacheKey) -> Result<Vec<String>, StorageError> {
        let listed_at = SystemTime::now();
        let Some(dir) = self.key_dir(key, false)? else {
            self.listings.forget(key);
            return Ok(Vec::new());
        };
        let stat = dir
            .stat_self()
            .map_err(|e| StorageError::io(dir.path().display().to_string(), "inspect", e))?;
        if let Some(names) = self.listings.get(key, &stat) {
            return Ok(names);
        }
        let mut names: Vec<String> = dir
            .names()
            .map_err(|e| StorageError::io(dir.path().display().to_string(), "list", e))?
            .into_iter()
            .filter(|n| is_hex_name(n))
            .collect();
        names.sort_unstable();
        self.listings.put(key, &stat, listed_at, &names);
        Ok(names)
    }

    fn read(&self, key: &CacheKey, name: &str) -> Result<Vec<u8>, StorageError> {
        let dir = self.existing_key_dir(key, name)?;
        read_capped(&dir, name, self.max_file)
    }

    fn read_index(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(dir) = self.key_dir(key, false)? else {
            return Ok(None);
        };
        match read_capped(&dir, INDEX_FILE, INDEX_MAX_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn write_index(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), StorageError> {
        let Some(dir) = self.key_dir(key, true)? else {
            return Ok(());
        };
        let temp = dir
            .write_temp(TEMP_PREFIX, bytes)
            .map_err(|e| at_error(&dir, TEMP_PREFIX, "write", e))?;
        dir.rename(&temp, INDEX_FILE).map_err(|e| {
            let _ = dir.unlink(&temp);
            StorageError::io(dir.display(INDEX_FILE), "publish", e)
        })
    }

    fn save(&self, key: &CacheKey, name: &str, bytes: &[u8]) -> Result<SaveOutcome, StorageError> {
        self.listings.forget(key);
        let dir = self.existing_or_new_key_dir(key)?;
        crate::scan::remove_stale_temps(&dir);
        let temp = dir
            .write_temp(TEMP_PREFIX, bytes)
            .map_err(|e| at_error(&dir, TEMP_PREFIX, "write", e))?;
        // A hard link publishes atomically and, unlike rename, refuses to replace: it tells
        // us exactly whether this content was new, which keeps the size total honest.
        let published = match dir.link(&temp, name) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // File systems without hard links: rename (atomic, replaces identical content).
            Err(_) => dir.rename(&temp, name).map(|()| true),
        };
        let _ = dir.unlink(&temp);
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
            Err(e) => Err(StorageError::io(dir.display(name), "publish", e)),
        }
    }

    fn touch(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        let dir = self.existing_key_dir(key, name)?;
        // Sets the time of the name itself (never a link's target) without opening it, so a
        // FIFO planted there cannot block.
        dir.touch(name)
            .map_err(|e| StorageError::io(dir.display(name), "set the modification time of", e))
    }

    fn remove(&self, key: &CacheKey, name: &str) -> Result<(), StorageError> {
        let size = self
            .key_dir(key, false)?
            .and_then(|dir| dir.stat(name).ok())
            .map_or(0, |s| u64::try_from(s.st_size).unwrap_or(0));
        if self.remove_file_and_empty_dirs(key, name)? {
            let _ = self.adjust_size(-i64::try_from(size).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        match self.top(false)? {
            Some(top) => Ok(crate::scan::scan(&top, false)?.0),
            None => Ok(Vec::new()),
        }
    }

    fn clear(&self) -> Result<(), StorageError> {
        let Some(top) = self.top(true)? else {
            return Ok(());
        };
        let size = self.lock_size(&top)?;
        self.listings.forget_all();
        let names = top
            .names()
            .map_err(|e| StorageError::io(top.path().display().to_string(), "list", e))?;
        for shard in names.into_iter().filter(|n| is_shard_name(n)) {
            remove_tree(&top, &shard)
                .map_err(|e| StorageError::io(top.display(&shard), "remove", e))?;
        }
        size.write(0)
    }

    fn evict_to(
        &self,
        target: u64,
        keep: Option<(&CacheKey, &str)>,
    ) -> Result<Eviction, StorageError> {
        let Some(top) = self.top(true)? else {
            return Ok(Eviction::default());
        };
        // One evicter at a time; savers wait only for the size update, not for the scan's end.
        let size = self.lock_size(&top)?;
        let (files, temps_removed) = crate::scan::scan(&top, true)?;
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

impl DiskStorage {
    fn existing_or_new_key_dir(&self, key: &CacheKey) -> Result<Arc<TrustedDir>, StorageError> {
        self.key_dir(key, true)?.ok_or_else(|| {
            StorageError::io(self.location(), "create", io::ErrorKind::NotFound.into())
        })
    }
}

/// `<prefix><pid>-<random>`: unique across processes and threads (and created with
/// `O_EXCL` anyway, so a name planted in advance is an error, never a file we write through).
pub(crate) fn temp_file_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    format!("{prefix}{}-{:016x}", std::process::id(), hasher.finish())
}
