//! Event counters: per [`crate::Cache`] in memory, and lifetime totals in `<dir>/v<F>/stats`.
//!
//! The hit path only bumps atomics. Pending counts are merged into the stats file (under a
//! lock, written by temp + rename) when the `Cache` drops, after [`FLUSH_EVERY_EVENTS`]
//! events, or on the first event a second after the last merge. A process that is killed
//! loses its counts since the last merge: totals are statistics, not accounting.
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::disk::{at_error, open_chain, open_rw_replacing, read_capped};
use crate::error::{CacheError, StorageError, WriteFailure};
use crate::fsat::TrustedDir;
use crate::trust::current_uid;

pub const FLUSH_EVERY_EVENTS: u64 = 256;
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
const STATS_FILE: &str = "stats";
const LOCK_FILE: &str = "stats.lock";
/// Temporary stats files start like every temporary file, so evictions clean leftovers.
const STATS_TEMP_PREFIX: &str = ".tmp-stats-";
/// The stats file names 13 counters: a few hundred bytes. More is not ours.
const STATS_MAX_BYTES: u64 = 64 << 10;

/// Event counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub hit: u64,
    pub miss: u64,
    pub guard_miss: u64,
    /// Graphs not cached, with a reason (see [`crate::Cache::record_bypass`]), and entries too
    /// large to store.
    pub bypass: u64,
    /// Entry files refused as damaged, forged or misplaced (and removed).
    pub corrupt: u64,
    /// Entries of another kiln version, backend or target under the key: skipped, kept.
    pub stale: u64,
    /// Entry files owned by someone else or writable by group/others: skipped.
    pub untrusted: u64,
    pub read_error: u64,
    pub write_error: u64,
    pub evicted: u64,
    /// Lookups that missed locally and were served by the remote level (also counted `hit`).
    pub remote_hit: u64,
    /// Lookups the remote level answered without a usable, accepted entry.
    pub remote_miss: u64,
    /// Remote calls that failed or timed out, and remote writes dropped (queue full).
    pub remote_error: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Hit,
    Miss,
    GuardMiss,
    Bypass,
    Corrupt,
    Stale,
    Untrusted,
    ReadError,
    WriteError,
    Evicted,
    RemoteHit,
    RemoteMiss,
    RemoteError,
}

const EVENTS: [(Event, &str); 13] = [
    (Event::Hit, "hit"),
    (Event::Miss, "miss"),
    (Event::GuardMiss, "guard_miss"),
    (Event::Bypass, "bypass"),
    (Event::Corrupt, "corrupt"),
    (Event::Stale, "stale"),
    (Event::Untrusted, "untrusted"),
    (Event::ReadError, "read_error"),
    (Event::WriteError, "write_error"),
    (Event::Evicted, "evicted"),
    (Event::RemoteHit, "remote_hit"),
    (Event::RemoteMiss, "remote_miss"),
    (Event::RemoteError, "remote_error"),
];

impl Counters {
    fn field(&mut self, event: Event) -> &mut u64 {
        match event {
            Event::Hit => &mut self.hit,
            Event::Miss => &mut self.miss,
            Event::GuardMiss => &mut self.guard_miss,
            Event::Bypass => &mut self.bypass,
            Event::Corrupt => &mut self.corrupt,
            Event::Stale => &mut self.stale,
            Event::Untrusted => &mut self.untrusted,
            Event::ReadError => &mut self.read_error,
            Event::WriteError => &mut self.write_error,
            Event::Evicted => &mut self.evicted,
            Event::RemoteHit => &mut self.remote_hit,
            Event::RemoteMiss => &mut self.remote_miss,
            Event::RemoteError => &mut self.remote_error,
        }
    }

    /// Each counter with its stable name, e.g. for `kiln cache stats`.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        let mut copy = *self;
        EVENTS
            .iter()
            .map(|&(e, name)| (name, *copy.field(e)))
            .collect()
    }

    fn add(&mut self, other: &Counters) {
        let mut other = *other;
        for (event, _) in EVENTS {
            let sum = self.field(event).saturating_add(*other.field(event));
            *self.field(event) = sum;
        }
    }
}

#[derive(Default)]
struct AtomicCounters([AtomicU64; EVENTS.len()]);

impl AtomicCounters {
    fn add(&self, event: Event, n: u64) {
        self.0[event as usize].fetch_add(n, Ordering::Relaxed);
    }
    fn snapshot(&self) -> Counters {
        self.collect(|a| a.load(Ordering::Relaxed))
    }
    fn take(&self) -> Counters {
        self.collect(|a| a.swap(0, Ordering::Relaxed))
    }
    fn collect(&self, read: impl Fn(&AtomicU64) -> u64) -> Counters {
        let mut counters = Counters::default();
        for (event, _) in EVENTS {
            *counters.field(event) = read(&self.0[event as usize]);
        }
        counters
    }
    fn give_back(&self, counters: &Counters) {
        let mut counters = *counters;
        for (event, _) in EVENTS {
            self.add(event, *counters.field(event));
        }
    }
}

/// The stats file: counters by name, so that adding a counter keeps old files readable.
#[derive(Serialize, Deserialize, Default)]
struct StatsFile {
    counts: Vec<(String, u64)>,
}

pub(crate) struct CounterBook {
    live: AtomicCounters,
    pending: AtomicCounters,
    pending_events: AtomicU64,
    started: Instant,
    last_flush_ms: AtomicU64,
    flushing: Mutex<()>,
    version_dir: PathBuf,
}

impl CounterBook {
    /// Totals kept in `version_dir/stats`.
    pub(crate) fn new(version_dir: &std::path::Path) -> CounterBook {
        CounterBook {
            live: AtomicCounters::default(),
            pending: AtomicCounters::default(),
            pending_events: AtomicU64::new(0),
            started: Instant::now(),
            last_flush_ms: AtomicU64::new(0),
            flushing: Mutex::new(()),
            version_dir: version_dir.to_path_buf(),
        }
    }

    pub(crate) fn record(&self, event: Event) {
        self.record_many(event, 1);
    }

    pub(crate) fn record_many(&self, event: Event, n: u64) {
        if n == 0 {
            return;
        }
        self.live.add(event, n);
        self.pending.add(event, n);
        let pending = self
            .pending_events
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let since_flush = now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Relaxed));
        let interval_ms = u64::try_from(FLUSH_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if pending >= FLUSH_EVERY_EVENTS || since_flush >= interval_ms {
            self.last_flush_ms.store(now_ms, Ordering::Relaxed);
            let _ = self.flush();
        }
    }

    pub(crate) fn snapshot(&self) -> Counters {
        self.live.snapshot()
    }

    /// Lifetime totals: the stats file plus what this process has not merged yet.
    pub(crate) fn lifetime(&self) -> Result<Counters, CacheError> {
        let mut totals = self.read_file()?;
        totals.add(&self.pending.snapshot());
        Ok(totals)
    }

    /// Merges pending counts into the stats file. On failure they stay pending.
    pub(crate) fn flush(&self) -> Result<(), CacheError> {
        // Another thread merging now will carry our counts too, or the next event will.
        let Ok(_guard) = self.flushing.try_lock() else {
            return Ok(());
        };
        self.pending_events.store(0, Ordering::Relaxed);
        let delta = self.pending.take();
        if delta == Counters::default() {
            return Ok(());
        }
        let merged = self.merge_into_file(&delta);
        if merged.is_err() {
            self.pending.give_back(&delta);
        }
        merged
    }

    /// The version directory, opened without following links and checked.
    fn open_dir(&self, create: bool) -> Result<TrustedDir, CacheError> {
        let top = self.version_dir.parent().unwrap_or(Path::new("."));
        let name = self
            .version_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("v1");
        Ok(open_chain(top, &[name], create, current_uid())?)
    }

    fn merge_into_file(&self, delta: &Counters) -> Result<(), CacheError> {
        let dir = self.open_dir(true)?;
        let lock = open_rw_replacing(&dir, LOCK_FILE)?;
        lock.lock()
            .map_err(|e| CacheError::io(dir.path().join(LOCK_FILE), "lock", e))?;
        let mut totals = read_totals(&dir);
        totals.add(delta);
        let file = StatsFile {
            counts: totals
                .named()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        };
        let bytes = postcard::to_allocvec(&file).map_err(|e| CacheError::Encode {
            key: "stats".to_string(),
            reason: e.to_string(),
        })?;
        write_stats(&dir, &bytes)
    }

    /// The stats file's totals; a missing, unreadable or planted file counts as zero.
    fn read_file(&self) -> Result<Counters, CacheError> {
        let dir = match self.open_dir(false) {
            Ok(dir) => dir,
            Err(CacheError::Storage(e)) if e.is_not_found() => return Ok(Counters::default()),
            Err(e) => return Err(e),
        };
        // Shared with readers, exclusive with a merge that may be rewriting in place.
        let lock = open_rw_replacing(&dir, LOCK_FILE)?;
        lock.lock_shared()
            .map_err(|e| CacheError::io(dir.path().join(LOCK_FILE), "lock", e))?;
        Ok(read_totals(&dir))
    }
}

/// The totals in `dir`'s stats file, read without following a link and at most
/// [`STATS_MAX_BYTES`]; anything else (missing, a FIFO, a link, oversized, garbage) is zero.
fn read_totals(dir: &TrustedDir) -> Counters {
    let mut totals = Counters::default();
    let bytes = match read_capped(dir, STATS_FILE, STATS_MAX_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            if !e.is_not_found() {
                tracing::warn!("kiln cache: lifetime counters unreadable, counted from zero: {e}");
            }
            return totals;
        }
    };
    let file: StatsFile = postcard::from_bytes(&bytes).unwrap_or_default();
    for (name, value) in file.counts {
        if let Some(&(event, _)) = EVENTS.iter().find(|(_, n)| *n == name) {
            *totals.field(event) = value;
        }
    }
    totals
}

/// Replaces the stats file by temp + rename (a killed writer never leaves a torn file). When
/// the disk is too full for a new file, the totals are rewritten in place instead: the old
/// file's blocks hold them, and readers wait on the lock the caller holds.
fn write_stats(dir: &TrustedDir, bytes: &[u8]) -> Result<(), CacheError> {
    let published = dir
        .write_temp(STATS_TEMP_PREFIX, bytes)
        .map_err(|e| at_error(dir, STATS_TEMP_PREFIX, "write", e))
        .and_then(|temp| {
            dir.rename(&temp, STATS_FILE).map_err(|e| {
                let _ = dir.unlink(&temp);
                StorageError::io(dir.display(STATS_FILE), "replace", e)
            })
        });
    match published {
        Ok(()) => Ok(()),
        Err(error) if error.write_failure() == WriteFailure::NoSpace => {
            let file = open_rw_replacing(dir, STATS_FILE)?;
            file.write_all_at(bytes, 0)
                .and_then(|()| file.set_len(u64::try_from(bytes.len()).unwrap_or(u64::MAX)))
                .map_err(|e| CacheError::io(dir.path().join(STATS_FILE), "rewrite", e))
        }
        Err(error) => Err(error.into()),
    }
}

impl Drop for CounterBook {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::TEMP_PREFIX;

    #[test]
    fn stats_temp_files_are_cleaned_like_every_temp_file() {
        assert!(STATS_TEMP_PREFIX.starts_with(TEMP_PREFIX));
    }
}
