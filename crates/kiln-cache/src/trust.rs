//! The threat model in code: whoever can write the cache directory can make this process run
//! their machine code, so the directory and every file read from it must be ours alone.
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::CacheError;

/// Group- or other-writable permission bits.
const FOREIGN_WRITE: u32 = 0o022;

pub(crate) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `path` and missing parents with mode 0700 (before umask).
pub(crate) fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// The path that stops `dir` from being a directory: `dir` itself when it is a file, else the
/// ancestor that is (for `afile/sub`, `afile`), so that the message names what to remove.
fn first_non_directory(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|p| fs::metadata(p).is_ok_and(|m| !m.is_dir()))
        .unwrap_or(dir)
        .to_path_buf()
}

/// Creates the cache directory if missing, then refuses one that is not a directory, not owned
/// by this user, or writable by group or others.
pub(crate) fn prepare_cache_dir(dir: &Path) -> Result<(), CacheError> {
    let not_a_dir = || CacheError::NotADirectory {
        path: first_non_directory(dir),
    };
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(not_a_dir()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir_all(dir).map_err(|source| match source.kind() {
                io::ErrorKind::NotADirectory => not_a_dir(),
                _ => CacheError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                },
            })?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Err(not_a_dir()),
        Err(source) => return Err(CacheError::io(dir, "inspect the cache directory", source)),
    }
    let meta =
        fs::metadata(dir).map_err(|e| CacheError::io(dir, "inspect the cache directory", e))?;
    if !meta.is_dir() {
        return Err(not_a_dir());
    }
    let uid = current_uid();
    if meta.uid() != uid {
        return Err(CacheError::NotOwned {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & FOREIGN_WRITE != 0 {
        return Err(CacheError::InsecureMode {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}
