//! The guarded cache: lookup with the driver's `accept` callback, store, lock, counters.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kiln_shape::GuardSet;

use crate::codec::{FORMAT_VERSION, Reject, decode, encode};
use crate::config::CacheConfig;
use crate::counters::{CounterBook, Counters, Event};
use crate::disk::DiskStorage;
use crate::disk::open_chain;
use crate::entry::{Entry, EntryHeader};
use crate::error::{CacheError, StorageError};
use crate::fsat::TrustedDir;
use crate::index::{self, GuardIndex, IndexRecord};
use crate::key::CacheKey;
use crate::lock::{KeyLock, locks_dir};
use crate::remote::{RemoteLevel, RemoteLookup};
use crate::storage::{SaveOutcome, Storage};
use crate::trust::{current_uid, prepare_cache_dir};
use crate::warn_once::{WarnKind, note_bypass_reason, warn_once};

mod deferred;
mod fast;

pub use deferred::flush_pending_stores;

/// The result of [`Cache::get`].
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned by value once per lookup; the hit is the case that matters"
)]
pub enum Lookup {
    /// The first entry (in content-hash order) whose header matched and that `accept` took.
    Hit(Entry),
    /// `entries` usable entries exist under the key, but `accept` refused them all.
    GuardMiss { entries: usize },
    /// Nothing usable under the key.
    Miss,
}

/// An entry ready for the local write, or the reason it gets none.
enum Prepared {
    Bytes { name: String, bytes: Vec<u8> },
    TooLarge(PutOutcome),
}

/// What [`Cache::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    /// Handed to a store thread ([`Cache::put_later`]): on disk once [`Cache::flush`] returns.
    Queued,
    /// The identical entry was already stored (its last-use time is refreshed).
    AlreadyPresent,
    /// Larger than `max_size`: not stored, counted as a bypass.
    TooLarge {
        size: u64,
        max_size: u64,
    },
}

/// A guarded, content-addressed, size-bounded cache of compiled artifacts.
pub struct Cache {
    dir: PathBuf,
    pub(crate) max_size: u64,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) storage: Arc<dyn Storage>,
    /// Write-backs of remote hits to the local level, running off the hit's critical path;
    /// joined before the next lookup and when the cache drops.
    pub(crate) write_backs: Mutex<Vec<JoinHandle<()>>>,
    /// Shared with the remote writer thread, which counts its own failures.
    pub(crate) counters: Arc<CounterBook>,
    /// The shared second level behind `storage`, when configured.
    pub(crate) remote: Option<RemoteLevel>,
    /// `v<F>/locks`, opened once (see [`Cache::lock`]).
    locks: Mutex<Option<Arc<TrustedDir>>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.dir)
            .field("max_size", &self.max_size)
            .field("signed", &self.secret.is_some())
            .field("storage", &self.storage.location())
            .field("remote", &self.remote.as_ref().map(RemoteLevel::location))
            .finish()
    }
}

impl Cache {
    /// Opens (creating with mode 0700) the cache directory and checks it is private.
    pub fn open(config: CacheConfig) -> Result<Cache, CacheError> {
        let storage = DiskStorage::new(version_dir(&config.dir)).with_max_file(config.max_size);
        Cache::with_storage(config, Box::new(storage))
    }

    /// A cache over another storage level; locks and lifetime counters still live in
    /// `config.dir`, which gets the same checks as in [`Cache::open`].
    pub fn with_storage(
        config: CacheConfig,
        storage: Box<dyn Storage>,
    ) -> Result<Cache, CacheError> {
        config.check_secret()?;
        prepare_cache_dir(&config.dir)?;
        let version_dir = version_dir(&config.dir);
        // Made or opened without following a link, and refused unless ours and private,
        // like the cache directory itself.
        open_chain(&config.dir, &[&version_name()], true, current_uid())?;
        let counters = Arc::new(CounterBook::new(&version_dir));
        let remote = config
            .remote
            .as_ref()
            .and_then(|remote| RemoteLevel::new(remote, counters.clone(), config.max_size));
        Ok(Cache {
            counters,
            remote,
            dir: config.dir,
            max_size: config.max_size,
            secret: config.secret,
            storage: Arc::from(storage),
            write_backs: Mutex::new(Vec::new()),
            locks: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Walks the key's entries in content-hash order; the first one with header `expect` that
    /// `accept` takes is a hit (and becomes most recently used). Never fails: a damaged entry
    /// is counted and removed, a read fault is counted; both just do not hit. With a remote
    /// level, a local miss then asks Redis (see `doc/REMOTE.md`).
    ///
    /// Every entry is read and verified before `accept` sees it, with its name (the sha256 of
    /// the entry file's bytes, which verification checked: equal names mean equal entries);
    /// prefer [`Cache::get_guarded`], which reads only the entries whose guards hold.
    pub fn get(
        &self,
        key: &CacheKey,
        expect: &EntryHeader,
        accept: &mut dyn FnMut(&Entry, &str) -> bool,
    ) -> Lookup {
        self.flush();
        self.get_guarded(key, expect, &mut |_| true, accept)
    }

    /// Like [`Cache::get`], with `admit` deciding from an entry's guards alone whether it can
    /// serve. The key's guard index lets the lookup evaluate `admit` for every entry from one
    /// small file and then read, verify and decode only admitted entries; an admitted entry
    /// is checked again with its verified guards before `accept` (which loads the code) sees
    /// it. A hit on the last of 100 entries costs about what a hit on the only one does.
    pub fn get_guarded(
        &self,
        key: &CacheKey,
        expect: &EntryHeader,
        admit: &mut dyn FnMut(&GuardSet) -> bool,
        accept: &mut dyn FnMut(&Entry, &str) -> bool,
    ) -> Lookup {
        let (hit, mut candidates, names) = self.get_local(key, expect, admit, accept);
        if let Some(entry) = hit {
            self.counters.record(Event::Hit);
            return Lookup::Hit(entry);
        }
        if let Some(remote) = &self.remote {
            let mut admit_and_accept =
                |entry: &Entry, name: &str| admit(&entry.guards) && accept(entry, name);
            match self.get_remote(remote, key, expect, &mut admit_and_accept, &names) {
                RemoteLookup::Hit(entry) => {
                    self.counters.record(Event::Hit);
                    return Lookup::Hit(entry);
                }
                RemoteLookup::Refused { candidates: more } => candidates += more,
                RemoteLookup::Unavailable => {}
            }
        }
        if candidates == 0 {
            self.counters.record(Event::Miss);
            Lookup::Miss
        } else {
            self.counters.record(Event::GuardMiss);
            Lookup::GuardMiss {
                entries: candidates,
            }
        }
    }

    /// The local walk of [`Cache::get_guarded`], counting nothing but faults: the accepted
    /// entry, the number of usable candidates, and the names listed.
    fn get_local(
        &self,
        key: &CacheKey,
        expect: &EntryHeader,
        admit: &mut dyn FnMut(&GuardSet) -> bool,
        accept: &mut dyn FnMut(&Entry, &str) -> bool,
    ) -> (Option<Entry>, usize, Vec<String>) {
        self.join_write_backs();
        let names = match self.storage.entry_names(key) {
            Ok(names) => names,
            Err(error) => {
                self.read_fault(&error);
                Vec::new()
            }
        };
        if names.is_empty() {
            return (None, 0, names);
        }
        let mut index = GuardIndex::load(self.storage.as_ref(), key);
        let mut index_incomplete = false;
        let mut candidates = 0;
        let mut hit = None;
        let mut unindexed = UnindexedBudget::new();
        for name in &names {
            // An indexed entry of the expected header whose guards fail is not even read.
            // Others (stale headers, unindexed names) take the full path, which counts them.
            if let Some(record) = index.get(name)
                && record.header == *expect
                && !admit(&record.guards)
            {
                candidates += 1;
                continue;
            }
            if index.get(name).is_none() && !unindexed.take() {
                // Left for later lookups: a key directory full of planted files costs each
                // lookup a bounded amount of reading and removing, never all of it.
                continue;
            }
            let Some(entry) = self.load_verified(key, name) else {
                continue;
            };
            if index.get(name).is_none() {
                index.insert(index_record(name, &entry));
                index_incomplete = true;
            }
            if entry.header != *expect {
                self.counters.record(Event::Stale);
                warn_once(WarnKind::Stale, || {
                    format!(
                        "kiln cache entry {key}/{name} was made by {:?}, this process expects \
                         {expect:?}; it is skipped",
                        entry.header
                    )
                });
                continue;
            }
            candidates += 1;
            if admit(&entry.guards) && accept(&entry, name) {
                self.touch_used(key, name);
                hit = Some(entry);
                break;
            }
        }
        if index_incomplete {
            index.store(self.storage.as_ref(), key, &names);
        }
        (hit, candidates, names)
    }

    /// Reads and verifies one entry; counts and handles every failure.
    fn load_verified(&self, key: &CacheKey, name: &str) -> Option<Entry> {
        self.load_verified_as(key, name, Foreign::Count)
    }

    /// [`Cache::load_verified`], where an entry signed with another secret (or unsigned) is
    /// counted only if `foreign` says so: the lock-free pass leaves it, untouched and
    /// uncounted, to the full walk, which counts it once.
    pub(crate) fn load_verified_as(
        &self,
        key: &CacheKey,
        name: &str,
        foreign: Foreign,
    ) -> Option<Entry> {
        let bytes = match self.storage.read(key, name) {
            Ok(bytes) => bytes,
            // Evicted or cleared by another process since the listing.
            Err(error) if error.is_not_found() => return None,
            Err(error) => {
                self.read_fault(&error);
                return None;
            }
        };
        match decode(&bytes, name, key, self.secret.as_deref()) {
            Ok(entry) => Some(entry),
            Err(reject @ (Reject::Unsigned | Reject::BadSignature)) => {
                if foreign == Foreign::Count {
                    self.keep_foreign_signature(key, name, &reject);
                }
                None
            }
            Err(reject) => {
                self.discard_corrupt(key, name, &reject);
                None
            }
        }
    }

    pub(crate) fn discard_corrupt(&self, key: &CacheKey, name: &str, reject: &Reject) {
        self.counters.record(Event::Corrupt);
        warn_once(WarnKind::Corrupt, || {
            format!(
                "kiln cache entry {key}/{name} in {} refused and removed: {reject}",
                self.storage.location()
            )
        });
        if let Err(error) = self.storage.remove(key, name) {
            tracing::debug!("kiln cache: cannot remove a refused entry: {error}");
        }
    }

    fn read_fault(&self, error: &StorageError) {
        match error {
            StorageError::Untrusted { .. } => {
                self.counters.record(Event::Untrusted);
                warn_once(WarnKind::Untrusted, || format!("kiln cache: {error}"));
            }
            _ => {
                self.counters.record(Event::ReadError);
                warn_once(WarnKind::Read, || {
                    format!("kiln cache read failed: {error}")
                });
            }
        }
    }

    /// Stores an entry (signed when a secret is configured), then evicts least-recently-used
    /// entries if the cache grew past `max_size`. An error is counted as `write_error` and
    /// logged once; the driver goes on without the cache.
    pub fn put(&self, entry: &Entry) -> Result<PutOutcome, CacheError> {
        let (name, bytes) = match self.prepare_store(entry)? {
            Prepared::Bytes { name, bytes } => (name, bytes),
            Prepared::TooLarge(outcome) => return Ok(outcome),
        };
        let outcome = self.store_bytes(&entry.key, &name, &bytes)?;
        Ok(match outcome {
            SaveOutcome::Stored { .. } => PutOutcome::Stored,
            SaveOutcome::AlreadyPresent => PutOutcome::AlreadyPresent,
        })
    }

    /// What `put` and `put_later` do before the local write: encode (and sign) the entry,
    /// refuse one over `max_size` (a bypass) and queue it for the remote level. Queued before
    /// the local write, which may fail on its own (a full disk must not stop the fleet from
    /// sharing the entry).
    fn prepare_store(&self, entry: &Entry) -> Result<Prepared, CacheError> {
        let (name, bytes) = encode(entry, self.secret.as_deref()).map_err(|reason| {
            self.counters.record(Event::WriteError);
            CacheError::Encode {
                key: entry.key.to_hex(),
                reason,
            }
        })?;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_size {
            tracing::debug!(
                "kiln cache: entry {} is {size} bytes, over max_size {}",
                entry.key,
                self.max_size
            );
            self.record_bypass("compiled entry larger than KILN_CACHE_MAX_SIZE");
            return Ok(Prepared::TooLarge(PutOutcome::TooLarge {
                size,
                max_size: self.max_size,
            }));
        }
        self.put_remote(&entry.key, &name, &bytes);
        Ok(Prepared::Bytes { name, bytes })
    }

    /// The shared write path of `put` and `import`: save, count faults, evict.
    pub(crate) fn store_bytes(
        &self,
        key: &CacheKey,
        name: &str,
        bytes: &[u8],
    ) -> Result<SaveOutcome, CacheError> {
        fast::forget_touches();
        store_file(
            self.storage.as_ref(),
            &self.counters,
            self.max_size,
            key,
            name,
            bytes,
        )
    }

    /// Waits for the write-backs of earlier remote hits, so that a lookup sees them on disk.
    pub(crate) fn join_write_backs(&self) {
        let pending =
            std::mem::take(&mut *self.write_backs.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in pending {
            let _ = handle.join();
        }
    }

    /// An exclusive lock on `key`, blocking until held. Hold it across lookup, compile and
    /// store so that concurrent processes compile a key once.
    pub fn lock(&self, key: &CacheKey) -> Result<KeyLock, CacheError> {
        KeyLock::acquire(self.locks_dir()?.as_ref(), key)
    }

    /// Like [`Cache::lock`] but returns `None` instead of waiting.
    pub fn try_lock(&self, key: &CacheKey) -> Result<Option<KeyLock>, CacheError> {
        KeyLock::try_acquire(self.locks_dir()?.as_ref(), key)
    }

    /// The lock directory, opened and checked once and reused while it stays linked.
    fn locks_dir(&self) -> Result<Arc<TrustedDir>, CacheError> {
        let mut memo = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = memo.as_ref()
            && dir.is_linked()
        {
            return Ok(dir.clone());
        }
        let dir = Arc::new(locks_dir(&self.dir, &version_name())?);
        *memo = Some(dir.clone());
        Ok(dir)
    }

    /// Removes every entry of this format version (lock files and lifetime counters stay).
    pub fn clear(&self) -> Result<(), CacheError> {
        self.flush();
        self.join_write_backs();
        Ok(self.storage.clear()?)
    }

    /// Events of this `Cache` in this process.
    pub fn counters(&self) -> Counters {
        self.flush();
        self.counters.snapshot()
    }

    /// Totals of every process that used this directory, including this one's unmerged counts.
    pub fn lifetime_counters(&self) -> Result<Counters, CacheError> {
        self.flush();
        self.counters.lifetime()
    }

    /// Merges this process's counts into the lifetime totals now (also done on drop).
    pub fn flush_counters(&self) -> Result<(), CacheError> {
        self.flush();
        self.counters.flush()
    }

    /// Counts a graph the driver chose not to cache; each distinct reason is logged once.
    pub fn record_bypass(&self, reason: &str) {
        self.counters.record(Event::Bypass);
        note_bypass_reason(reason);
    }
}

/// Entry files outside the guard index that one lookup reads in full at most, and the time
/// it spends on them at most. Normal keys have none (every put indexes its entry); these
/// bound what a directory of planted or damaged files costs one lookup holding the key lock.
const MAX_UNINDEXED_READS: usize = 256;
const MAX_UNINDEXED_TIME: Duration = Duration::from_millis(200);

struct UnindexedBudget {
    read: usize,
    started: Instant,
}

impl UnindexedBudget {
    fn new() -> UnindexedBudget {
        UnindexedBudget {
            read: 0,
            started: Instant::now(),
        }
    }

    /// Whether one more unindexed file may be read.
    fn take(&mut self) -> bool {
        if self.read >= MAX_UNINDEXED_READS || self.started.elapsed() > MAX_UNINDEXED_TIME {
            return false;
        }
        self.read += 1;
        true
    }
}

/// The index record of a verified entry.
fn index_record(name: &str, entry: &Entry) -> IndexRecord {
    IndexRecord {
        name: name.to_string(),
        header: entry.header.clone(),
        guards: entry.guards.clone(),
    }
}

fn version_name() -> String {
    format!("v{FORMAT_VERSION}")
}

fn version_dir(dir: &Path) -> PathBuf {
    dir.join(version_name())
}

/// Saves one entry file, indexes it, and evicts down to 80% of `max_size` when the save pushed
/// the total over it. A failure is counted as `write_error` and logged once.
pub(crate) fn store_file(
    storage: &dyn Storage,
    counters: &CounterBook,
    max_size: u64,
    key: &CacheKey,
    name: &str,
    bytes: &[u8],
) -> Result<SaveOutcome, CacheError> {
    let outcome = save_and_evict(storage, counters, max_size, key, name, bytes)?;
    index::add_stored(storage, key, name, bytes);
    Ok(outcome)
}

/// [`store_file`] without the index update, for writers that index many entries of a key at
/// once (a bundle import): one index write per key, not one per entry.
pub(crate) fn save_and_evict(
    storage: &dyn Storage,
    counters: &CounterBook,
    max_size: u64,
    key: &CacheKey,
    name: &str,
    bytes: &[u8],
) -> Result<SaveOutcome, CacheError> {
    let outcome = storage.save(key, name, bytes).map_err(|source| {
        counters.record(Event::WriteError);
        let failure = source.write_failure();
        warn_once(WarnKind::Write, || {
            format!("kiln cache disabled for writes ({failure}): {source}")
        });
        CacheError::Write { failure, source }
    })?;
    if let SaveOutcome::Stored {
        total_bytes: Some(total),
    } = outcome
        && total > max_size
    {
        // Down to 80% of the bound, so that the next puts do not evict again at once.
        let target = max_size - max_size / 5;
        match storage.evict_to(target, Some((key, name))) {
            Ok(eviction) => counters.record_many(Event::Evicted, eviction.removed_entries),
            Err(error) => tracing::warn!("kiln cache eviction failed: {error}"),
        }
    }
    Ok(outcome)
}

impl Drop for Cache {
    fn drop(&mut self) {
        flush_pending_stores();
        self.join_write_backs();
    }
}

/// Whether a read counts an entry signed with another secret (see
/// [`Cache::load_verified_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Foreign {
    Count,
    LeaveToTheFullWalk,
}
