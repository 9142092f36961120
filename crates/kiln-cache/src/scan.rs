//! Walking the whole disk level: every entry file, for listing, eviction and recounts, and
//! the removal of dead writers' temporary files. Shards and keys are opened by descriptor
//! without following links ([`TrustedDir::child`]); one that is a link, not ours, or not a
//! directory is skipped, so nothing outside the cache is ever listed or removed.
use std::time::{Duration, SystemTime};

use rustix::fs::{FileType, Stat};

use crate::disk::{TEMP_MAX_AGE, TEMP_PREFIX};
use crate::error::StorageError;
use crate::fsat::TrustedDir;
use crate::key::{CacheKey, is_hex_name, is_shard_name};
use crate::storage::StoredFile;

fn modified(stat: &Stat) -> SystemTime {
    let secs = u64::try_from(stat.st_mtime).unwrap_or(0);
    let nanos = stat.st_mtime_nsec;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos)
}

fn names_of(dir: &TrustedDir) -> Result<Vec<String>, StorageError> {
    dir.names()
        .map_err(|e| StorageError::io(dir.path().display().to_string(), "list", e))
}

/// Every entry file under `top`; with `clean_temps`, also removes temporary files of dead
/// writers (in key directories and in `top`, where the counters write theirs) and returns
/// how many.
pub(crate) fn scan(
    top: &TrustedDir,
    clean_temps: bool,
) -> Result<(Vec<StoredFile>, u64), StorageError> {
    let mut files = Vec::new();
    let mut temps_removed = if clean_temps {
        remove_stale_temps(top)
    } else {
        0
    };
    for shard_name in names_of(top)?.into_iter().filter(|n| is_shard_name(n)) {
        let Ok(shard) = top.child(&shard_name, false) else {
            continue;
        };
        for key_name in names_of(&shard)? {
            let Ok(key) = CacheKey::from_hex(&key_name) else {
                continue;
            };
            if key.shard() != shard_name {
                continue;
            }
            let Ok(key_dir) = shard.child(&key_name, false) else {
                continue;
            };
            if clean_temps {
                temps_removed += remove_stale_temps(&key_dir);
            }
            list_entries(&key_dir, key, &mut files)?;
        }
    }
    Ok((files, temps_removed))
}

fn list_entries(
    key_dir: &TrustedDir,
    key: CacheKey,
    files: &mut Vec<StoredFile>,
) -> Result<(), StorageError> {
    for name in names_of(key_dir)?.into_iter().filter(|n| is_hex_name(n)) {
        // Not following links: a symlink is never an entry.
        let Ok(stat) = key_dir.stat(&name) else {
            continue;
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            continue;
        }
        files.push(StoredFile {
            key,
            name,
            size: u64::try_from(stat.st_size).unwrap_or(0),
            last_use: modified(&stat),
        });
    }
    Ok(())
}

/// Removes temporary files in `dir` older than [`TEMP_MAX_AGE`]; returns how many.
pub(crate) fn remove_stale_temps(dir: &TrustedDir) -> u64 {
    let Ok(names) = dir.names() else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for name in names.iter().filter(|n| n.starts_with(TEMP_PREFIX)) {
        let stale = dir.stat(name).is_ok_and(|stat| {
            FileType::from_raw_mode(stat.st_mode) != FileType::Directory
                && now
                    .duration_since(modified(&stat))
                    .is_ok_and(|age| age > TEMP_MAX_AGE)
        });
        if stale && dir.unlink(name).is_ok() {
            removed += 1;
        }
    }
    removed
}
