//! The hit path without the key lock or a directory listing, and refreshes of last use that
//! skip the file system when this process refreshed the same entry moments ago.
//!
//! A hit needs neither: entries are published whole (hard link or rename of a complete temp
//! file) and never changed, and the guard index is replaced by rename, so a reader without the
//! lock sees an old or a new index and whole entries; an entry evicted since the index was
//! written is simply not found. The lock exists so that concurrent *misses* compile a key
//! once; the driver takes it, and walks the key in full with [`Cache::get_guarded`], only
//! when this path finds nothing. Listing the key directory is only needed to find entries the
//! index does not know (planted or damaged files, records lost to concurrent puts): that walk
//! is the full one's.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_shape::GuardSet;

use super::{Cache, Foreign};
use crate::counters::Event;
use crate::entry::{Entry, EntryHeader};
use crate::index::GuardIndex;
use crate::key::CacheKey;

/// How long a refresh of an entry's last-use time by this process stands for later hits.
/// Eviction is least-recently-used by modification time; an order finer than this among
/// entries used by *other* processes within the same minute does not matter for a cache.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Entries this process refreshed, and when; cleared on every store by any `Cache` of the
/// process (a newer entry must not look more recently used than one hit after it).
static RECENT_TOUCHES: RecentTouches = RecentTouches(Mutex::new(None));

type Touched = HashMap<(CacheKey, String), Instant>;

pub(crate) struct RecentTouches(Mutex<Option<Touched>>);

/// Forgets every recent refresh; called before each store.
pub(crate) fn forget_touches() {
    RECENT_TOUCHES.forget_all();
}

impl RecentTouches {
    /// True when `name` under `key` needs its last-use time set now (and records it as set).
    fn due(&self, key: &CacheKey, name: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.get_or_insert_with(HashMap::new);
        let now = Instant::now();
        let slot = (*key, name.to_string());
        if seen
            .get(&slot)
            .is_some_and(|&t| now.duration_since(t) < TOUCH_INTERVAL)
        {
            return false;
        }
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(slot, now);
        true
    }

    fn forget_all(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Cache {
    /// A hit found through the key's guard index alone: the first indexed entry (in name,
    /// i.e. content-hash, order) with header `expect` whose guards `admit` takes, read and
    /// verified in full, that `accept` takes. Counts a hit; on anything else returns `None`
    /// and counts nothing but faults (a damaged entry is discarded as on the full path), so
    /// the caller can take the key lock and do the full walk with [`Cache::get_guarded`].
    /// Entries with another header and entries the index does not list are left to it.
    pub fn get_indexed(
        &self,
        key: &CacheKey,
        expect: &EntryHeader,
        admit: &mut dyn FnMut(&GuardSet) -> bool,
        accept: &mut dyn FnMut(&Entry, &str) -> bool,
    ) -> Option<Entry> {
        self.join_write_backs();
        let index = GuardIndex::load(self.storage.as_ref(), key);
        for name in index.names() {
            let admitted = index
                .get(name)
                .is_some_and(|r| r.header == *expect && admit(&r.guards));
            if !admitted {
                continue;
            }
            let entry = self.load_verified_as(key, name, Foreign::LeaveToTheFullWalk)?;
            // Verified guards and header, as on the full path; a stale header is its to count.
            if entry.header != *expect {
                return None;
            }
            if admit(&entry.guards) && accept(&entry, name) {
                self.touch_used(key, name);
                self.counters.record(Event::Hit);
                return Some(entry);
            }
        }
        None
    }

    /// Refreshes an entry's last use (for LRU eviction), at most once per
    /// [`TOUCH_INTERVAL`] per entry from this process.
    pub(crate) fn touch_used(&self, key: &CacheKey, name: &str) {
        if !RECENT_TOUCHES.due(key, name) {
            return;
        }
        if let Err(error) = self.storage.touch(key, name) {
            tracing::debug!("kiln cache: cannot refresh last use: {error}");
        }
    }
}
