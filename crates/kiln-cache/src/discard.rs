//! Dropping an entry that verified but that its backend could not use, and keeping one that
//! was signed for another secret.
use crate::cache::Cache;
use crate::codec::{Reject, decode, encode};
use crate::counters::Event;
use crate::entry::Entry;
use crate::key::CacheKey;
use crate::warn_once::{WarnKind, warn_once};

impl Cache {
    /// Removes `entry` and counts it as `corrupt`: it passed the cache's checks but the driver
    /// could not use it (e.g. the backend refused its machine code), so later lookups must not
    /// pay for it again. Its file name is recomputed from its content, as `put` names it; an
    /// entry that name does not find (a signed entry read by a process without the secret,
    /// whose signature it cannot rebuild) is found among the key's files by its content.
    pub fn discard(&self, entry: &Entry, reason: &str) {
        self.counters.record(Event::Corrupt);
        tracing::warn!(target: "kiln", "cache entry under key {} refused by the backend and removed: {reason}", entry.key);
        let names = match self.storage.entry_names(&entry.key) {
            Ok(names) => names,
            Err(error) => {
                tracing::debug!("kiln cache: cannot list a refused entry's key: {error}");
                return;
            }
        };
        let named = encode(entry, self.secret.as_deref())
            .ok()
            .map(|(name, _)| name);
        let found: Vec<&String> = match named.as_ref().filter(|n| names.contains(n)) {
            Some(name) => vec![name],
            None => names
                .iter()
                .filter(|name| self.holds(entry, name))
                .collect(),
        };
        if found.is_empty() {
            tracing::debug!(
                "kiln cache: a refused entry under key {} is not on disk",
                entry.key
            );
        }
        for name in found {
            if let Err(error) = self.storage.remove(&entry.key, name) {
                tracing::debug!("kiln cache: cannot remove a refused entry: {error}");
            }
        }
    }

    /// Whether the file `name` under `entry`'s key decodes to `entry`.
    fn holds(&self, entry: &Entry, name: &str) -> bool {
        self.storage.read(&entry.key, name).is_ok_and(|bytes| {
            decode(&bytes, name, &entry.key, self.secret.as_deref()).is_ok_and(|e| e == *entry)
        })
    }

    /// An entry written without this process's secret (unsigned, or signed with another
    /// secret): setting or changing `KILN_CACHE_SECRET` makes every older entry one. It is
    /// never served, counted `untrusted` rather than `corrupt` (nothing is damaged), and left
    /// in place: processes that still hold the old secret may use it, and `kiln cache prune`
    /// or `verify` remove it. Said once per process, with what to do.
    pub(crate) fn keep_foreign_signature(&self, key: &CacheKey, name: &str, reject: &Reject) {
        self.counters.record(Event::Untrusted);
        warn_once(WarnKind::Signature, || {
            format!(
                "kiln cache entry {key}/{name} in {} is not used: {reject}. Entries written \
                 before KILN_CACHE_SECRET was set or changed are not trusted; they are kept \
                 (counted `untrusted`) until `kiln cache prune` evicts them or `kiln cache \
                 verify` removes them",
                self.storage.location()
            )
        });
    }
}
