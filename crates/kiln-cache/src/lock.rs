//! Per-key advisory locks: the driver holds one across lookup, compile and store so that two
//! processes missing on the same key compile it once. The kernel drops the lock when its
//! holder exits or is killed, so a crash never blocks others.
//!
//! On Linux a key's lock is a one-byte open-file-description lock (`F_OFD_SETLKW`) at an offset
//! derived from the key, in one shared file `locks/keys.lock`. That file exists after the first
//! lock, so a lock costs an open and an fcntl: creating a per-key lock file cost 40-230 us on
//! this project's machines, a quarter of the compile of a small graph. Every lock opens its
//! own description, so two locks in one process exclude each other exactly as two processes
//! do. Elsewhere, or where the file system refuses OFD locks, it is `flock` on a per-key file
//! `locks/<key>.lock`.
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::disk::{open_chain, open_rw_replacing};
use crate::error::CacheError;
use crate::fsat::TrustedDir;
use crate::key::CacheKey;
use crate::trust::current_uid;

/// The shared lock file of the byte-range locks.
pub const SHARED_LOCK_FILE: &str = "keys.lock";

/// An exclusive lock on one key, released on drop.
///
/// Lock files are never deleted (deleting one while another process waits on it would let two
/// holders lock different files); they are empty.
#[derive(Debug)]
pub struct KeyLock {
    file: File,
    path: PathBuf,
    /// The locked byte of the shared file; `None` for a per-key file's `flock`.
    byte: Option<i64>,
}

impl KeyLock {
    /// The file the lock is on (the shared file for a byte-range lock).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked byte of [`SHARED_LOCK_FILE`], or `None` for a per-key file's `flock`.
    pub fn byte(&self) -> Option<i64> {
        self.byte
    }

    /// Blocks until the lock is held.
    pub(crate) fn acquire(locks: &TrustedDir, key: &CacheKey) -> Result<KeyLock, CacheError> {
        Self::take(locks, key, true).map(|held| held.expect("a blocking lock is always taken"))
    }

    /// `None` when another holder (any process, or another lock in this one) has it.
    pub(crate) fn try_acquire(
        locks: &TrustedDir,
        key: &CacheKey,
    ) -> Result<Option<KeyLock>, CacheError> {
        Self::take(locks, key, false)
    }

    fn take(locks: &TrustedDir, key: &CacheKey, wait: bool) -> Result<Option<KeyLock>, CacheError> {
        let (file, path) = open_lock_file(locks, SHARED_LOCK_FILE)?;
        let byte = key_byte(key);
        match ofd::lock(&file, byte, wait) {
            Ok(true) => {
                return Ok(Some(KeyLock {
                    file,
                    path,
                    byte: Some(byte),
                }));
            }
            Ok(false) => return Ok(None),
            Err(e) if !ofd::unsupported(&e) => return Err(CacheError::io(&path, "lock", e)),
            Err(_) => {}
        }
        let (file, path) = open_lock_file(locks, &format!("{key}.lock"))?;
        let taken = if wait {
            file.lock().map(|()| true)
        } else {
            match file.try_lock() {
                Ok(()) => Ok(true),
                Err(TryLockError::WouldBlock) => Ok(false),
                Err(TryLockError::Error(e)) => Err(e),
            }
        };
        match taken.map_err(|e| CacheError::io(&path, "lock", e))? {
            true => Ok(Some(KeyLock {
                file,
                path,
                byte: None,
            })),
            false => Ok(None),
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes it prompt even if
        // the descriptor were duplicated into a child process.
        match self.byte {
            Some(byte) => ofd::unlock(&self.file, byte),
            None => {
                let _ = self.file.unlock();
            }
        }
    }
}

/// The byte of the shared lock file that stands for `key` (from its first 8 bytes, below
/// 2^62 so that `byte + 1` fits `off_t`). Two keys sharing a byte only wait for each other.
fn key_byte(key: &CacheKey) -> i64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&key.0[..8]);
    (u64::from_le_bytes(head) >> 2) as i64
}

/// Open-file-description byte-range locks (Linux); elsewhere every call reports them
/// unsupported, and the per-key `flock` is used.
#[cfg(target_os = "linux")]
mod ofd {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    fn request(file: &File, byte: i64, kind: libc::c_int, cmd: libc::c_int) -> io::Result<()> {
        // SAFETY: `flock` is plain data; all-zero is a valid value (and `l_pid` must be 0 for
        // OFD locks).
        let mut range: libc::flock = unsafe { std::mem::zeroed() };
        range.l_type = kind as libc::c_short;
        range.l_whence = libc::SEEK_SET as libc::c_short;
        range.l_start = byte;
        range.l_len = 1;
        loop {
            // SAFETY: a valid descriptor and a pointer to an initialised `flock`.
            if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &range) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Takes the write lock on `byte`: `Ok(false)` when held elsewhere and not `wait`.
    pub fn lock(file: &File, byte: i64, wait: bool) -> io::Result<bool> {
        let cmd = if wait {
            libc::F_OFD_SETLKW
        } else {
            libc::F_OFD_SETLK
        };
        match request(file, byte, libc::F_WRLCK, cmd) {
            Ok(()) => Ok(true),
            Err(e) if !wait && matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub fn unlock(file: &File, byte: i64) {
        let _ = request(file, byte, libc::F_UNLCK, libc::F_OFD_SETLK);
    }

    /// The kernel or file system has no OFD locks.
    pub fn unsupported(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EINVAL | libc::ENOLCK | libc::EOPNOTSUPP)
        )
    }
}

#[cfg(not(target_os = "linux"))]
mod ofd {
    use std::fs::File;
    use std::io;

    pub fn lock(_: &File, _: i64, _: bool) -> io::Result<bool> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub fn unlock(_: &File, _: i64) {}

    pub fn unsupported(_: &io::Error) -> bool {
        true
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
