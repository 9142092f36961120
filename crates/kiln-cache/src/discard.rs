//! Dropping an entry that verified but that its backend could not use.
use crate::cache::Cache;
use crate::codec::encode;
use crate::counters::Event;
use crate::entry::Entry;

impl Cache {
    /// Removes `entry` and counts it as `corrupt`: it passed the cache's checks but the driver
    /// could not use it (e.g. the backend refused its machine code), so later lookups must not
    /// pay for it again. Its file name is recomputed from its content, as `put` names it.
    pub fn discard(&self, entry: &Entry, reason: &str) {
        self.counters.record(Event::Corrupt);
        tracing::warn!(target: "kiln", "cache entry under key {} refused by the backend and removed: {reason}", entry.key);
        match encode(entry, self.secret.as_deref()) {
            Ok((name, _)) => {
                if let Err(error) = self.storage.remove(&entry.key, &name) {
                    tracing::debug!("kiln cache: cannot remove a refused entry: {error}");
                }
            }
            Err(error) => tracing::debug!("kiln cache: cannot name a refused entry: {error}"),
        }
    }
}
