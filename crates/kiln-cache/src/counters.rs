//! Event counters: per [`crate::Cache`] in memory, and lifetime totals in `<dir>/v<F>/stats`.
//!
//! The hit path only bumps atomics. Pending counts are merged into the stats file (under a
//! lock, written by temp + rename) when the `Cache` drops, after [`FLUSH_EVERY_EVENTS`]
//! events, or on the first event a second after the last merge. A process that is killed
//! loses its counts since the last merge: totals are statistics, not accounting.
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::CacheError;
use crate::trust::{create_private_dir_all, open_private_rw};

pub const FLUSH_EVERY_EVENTS: u64 = 256;
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

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
    stats_path: PathBuf,
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
            stats_path: version_dir.join("stats"),
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

    fn merge_into_file(&self, delta: &Counters) -> Result<(), CacheError> {
        let dir = self
            .stats_path
            .parent()
            .unwrap_or(std::path::Path::new("."));
        create_private_dir_all(dir).map_err(|e| CacheError::io(dir, "create", e))?;
        let lock_path = self.stats_path.with_extension("lock");
        let lock =
            open_private_rw(&lock_path).map_err(|e| CacheError::io(&lock_path, "open", e))?;
        lock.lock()
            .map_err(|e| CacheError::io(&lock_path, "lock", e))?;
        let mut totals = self.read_file()?;
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
        // Temp + rename: a killed writer never leaves a torn stats file.
        let temp = dir.join(format!(".tmp-stats-{}", std::process::id()));
        fs::write(&temp, &bytes).map_err(|e| CacheError::io(&temp, "write", e))?;
        fs::rename(&temp, &self.stats_path)
            .map_err(|e| CacheError::io(&self.stats_path, "replace", e))
    }

    /// The stats file's totals; a missing or unreadable file counts as zero.
    fn read_file(&self) -> Result<Counters, CacheError> {
        let bytes = match fs::read(&self.stats_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Counters::default()),
            Err(e) => return Err(CacheError::io(&self.stats_path, "read", e)),
        };
        let file: StatsFile = postcard::from_bytes(&bytes).unwrap_or_default();
        let mut totals = Counters::default();
        for (name, value) in file.counts {
            if let Some(&(event, _)) = EVENTS.iter().find(|(_, n)| *n == name) {
                *totals.field(event) = value;
            }
        }
        Ok(totals)
    }
}

impl Drop for CounterBook {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
