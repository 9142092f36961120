//! Typed errors. `get` never returns one (a fault there is a counted miss); everything else
//! does, and the driver turns them into a counted bypass or write error.
use std::fmt;
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why a write failed, in the terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    ReadOnly,
    PermissionDenied,
    NoSpace,
    NotADirectory,
    Other,
}

impl WriteFailure {
    pub fn classify(error: &io::Error) -> WriteFailure {
        match error.raw_os_error() {
            Some(libc::EROFS) => return WriteFailure::ReadOnly,
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => return WriteFailure::NoSpace,
            _ => {}
        }
        match error.kind() {
            io::ErrorKind::ReadOnlyFilesystem => WriteFailure::ReadOnly,
            io::ErrorKind::PermissionDenied => WriteFailure::PermissionDenied,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => WriteFailure::NoSpace,
            io::ErrorKind::NotADirectory => WriteFailure::NotADirectory,
            _ => WriteFailure::Other,
        }
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteFailure::ReadOnly => "read-only file system",
            WriteFailure::PermissionDenied => "permission denied",
            WriteFailure::NoSpace => "no space left or quota exceeded",
            WriteFailure::NotADirectory => "a path component is not a directory",
            WriteFailure::Other => "I/O error",
        })
    }
}

/// An error of a byte-level [`crate::Storage`] level.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The file exists but may have been written by someone else: never read.
    #[error(
        "cache file {location} is not trusted ({reason}); fix: delete it, and make the cache \
         directory yours with chmod 700"
    )]
    Untrusted { location: String, reason: String },
    #[error("cannot {action} {location}: {source}")]
    Io {
        location: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// A remote or injected level that cannot serve at all right now.
    #[error("cache storage {location} is unavailable: {reason}")]
    Unavailable { location: String, reason: String },
}

impl StorageError {
    pub fn io(location: impl Into<String>, action: &'static str, source: io::Error) -> Self {
        StorageError::Io {
            location: location.into(),
            action,
            source,
        }
    }

    /// The file vanished (evicted or cleared by another process): not a fault.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    pub fn write_failure(&self) -> WriteFailure {
        match self {
            StorageError::Io { source, .. } => WriteFailure::classify(source),
            _ => WriteFailure::Other,
        }
    }

    pub fn location(&self) -> &str {
        match self {
            StorageError::Untrusted { location, .. }
            | StorageError::Io { location, .. }
            | StorageError::Unavailable { location, .. } => location,
        }
    }
}

/// An error of [`crate::Cache`].
#[derive(Debug, Error)]
pub enum CacheError {
    #[error(
        "cache path {} exists but is not a directory; remove it or point KILN_CACHE_DIR elsewhere",
        .path.display()
    )]
    NotADirectory { path: PathBuf },
    #[error("cannot create cache directory {}: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cache directory {} is writable by group or others (mode {mode:o}), so anyone who can \
         write it could run code in this process; fix: chmod 700 {}",
        .path.display(), .path.display()
    )]
    InsecureMode { path: PathBuf, mode: u32 },
    #[error(
        "cache directory {} is owned by uid {owner}, not by this user (uid {uid}); fix: set \
         KILN_CACHE_DIR to a directory of your own, or chown {uid} {} && chmod 700 {}",
        .path.display(), .path.display(), .path.display()
    )]
    NotOwned { path: PathBuf, owner: u32, uid: u32 },
    #[error("cannot write cache entry at {} ({failure}): {source}", .source.location())]
    Write {
        failure: WriteFailure,
        #[source]
        source: StorageError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot encode the cache entry for key {key}: {reason}")]
    Encode { key: String, reason: String },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// A secret was configured but cannot be used: the cache is not opened unsigned.
    #[error("the cache secret is unusable: {0}")]
    Secret(#[from] crate::config::SecretError),
    #[error("{} is not a usable kiln cache bundle: {reason}", .path.display())]
    BadBundle { path: PathBuf, reason: String },
}

impl CacheError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        CacheError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
