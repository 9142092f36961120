//! Per-key advisory locks: the driver holds one across lookup, compile and store so that two
//! processes missing on the same key compile it once. The kernel drops the lock when its
//! holder exits or is killed, so a crash never blocks others.
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::disk::{open_chain, open_rw_replacing};
use crate::error::CacheError;
use crate::fsat::TrustedDir;
use crate::trust::current_uid;

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
    pub(crate) fn acquire(locks: &TrustedDir, name: &str) -> Result<KeyLock, CacheError> {
        let (file, path) = open_lock_file(locks, name)?;
        file.lock().map_err(|e| CacheError::io(&path, "lock", e))?;
        Ok(KeyLock { file, path })
    }

    /// `None` when another holder (any process, or another open of the file) has it.
    pub(crate) fn try_acquire(
        locks: &TrustedDir,
        name: &str,
    ) -> Result<Option<KeyLock>, CacheError> {
        let (file, path) = open_lock_file(locks, name)?;
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

/// `<dir>/v<F>/locks/<name>`: `locks` was opened without following links and checked
/// ([`locks_dir`]); a link or FIFO planted at the lock's name is replaced.
fn open_lock_file(locks: &TrustedDir, name: &str) -> Result<(File, PathBuf), CacheError> {
    let file = open_rw_replacing(locks, name)?;
    Ok((file, locks.path().join(name)))
}

/// The lock directory `<top>/<version>/locks`, every level below `top` opened by descriptor
/// without following links and checked.
pub(crate) fn locks_dir(top: &Path, version: &str) -> Result<TrustedDir, CacheError> {
    Ok(open_chain(top, &[version, "locks"], true, current_uid())?)
}
