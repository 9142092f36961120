//! Per-key advisory locks: the driver holds one across lookup, compile and store so that two
//! processes missing on the same key compile it once. The kernel drops the lock when its
//! holder exits or is killed, so a crash never blocks others.
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::CacheError;
use crate::trust::{create_private_dir_all, open_private_rw};

/// An exclusive lock on one key, released on drop.
///
/// Lock files are never deleted (deleting one while another process waits on it would let two
/// holders lock different files); they are empty, one per key ever locked.
#[derive(Debug)]
pub struct KeyLock {
    file: File,
    path: PathBuf,
}

impl KeyLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocks until the lock is held.
    pub(crate) fn acquire(path: PathBuf) -> Result<KeyLock, CacheError> {
        let file = open_lock_file(&path)?;
        file.lock().map_err(|e| CacheError::io(&path, "lock", e))?;
        Ok(KeyLock { file, path })
    }

    /// `None` when another holder (any process, or another open of the file) has it.
    pub(crate) fn try_acquire(path: PathBuf) -> Result<Option<KeyLock>, CacheError> {
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(KeyLock { file, path })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(CacheError::io(&path, "lock", e)),
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes it prompt even if
        // the descriptor were duplicated into a child process.
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path) -> Result<File, CacheError> {
    // The lock directory exists after the first lock: create it only when the open says it
    // is missing (a mkdir per lookup cost a tenth of a cache hit).
    match open_private_rw(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other.map_err(|e| CacheError::io(path, "open the lock file", e)),
    }
    if let Some(dir) = path.parent() {
        create_private_dir_all(dir)
            .map_err(|e| CacheError::io(dir, "create the lock directory", e))?;
    }
    open_private_rw(path).map_err(|e| CacheError::io(path, "open the lock file", e))
}
