//! The remote half of [`Cache::get`] and [`Cache::put`], and the remote controls of `Cache`.
use std::time::Duration;

use crate::cache::Cache;
use crate::codec::decode;
use crate::counters::Event;
use crate::entry::{Entry, EntryHeader};
use crate::key::{CacheKey, is_hex_name};
use crate::remote::level::{RemoteLevel, RemoteStatus};
use crate::warn_once::{WarnKind, warn_once};

/// What the remote level added to a lookup that missed locally.
#[allow(
    clippy::large_enum_variant,
    reason = "returned by value once per remote lookup, like `Lookup`"
)]
pub(crate) enum RemoteLookup {
    Hit(Entry),
    /// The remote level answered; `candidates` usable entries were refused by `accept`.
    Refused {
        candidates: usize,
    },
    /// Off, or the call failed (counted `remote_error`).
    Unavailable,
}

impl Cache {
    /// Looks `key` up in Redis after a local miss. Entries whose content hash is in
    /// `local_names` were already judged locally and are skipped. A remote entry passes the
    /// same checks as a disk entry; the accepted one is written back to the disk.
    pub(crate) fn get_remote(
        &self,
        remote: &RemoteLevel,
        key: &CacheKey,
        expect: &EntryHeader,
        accept: &mut dyn FnMut(&Entry, &str) -> bool,
        local_names: &[String],
    ) -> RemoteLookup {
        let Some(mut fields) = remote.fetch(key) else {
            return RemoteLookup::Unavailable;
        };
        // Content-hash order, as on disk, so that every machine picks the same entry.
        fields.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut candidates = 0;
        for (field, bytes) in fields {
            let Some(name) = std::str::from_utf8(&field).ok().filter(|n| is_hex_name(n)) else {
                tracing::debug!("kiln remote cache: ignoring a field that is not a content hash");
                continue;
            };
            if local_names.iter().any(|local| local == name) {
                continue;
            }
            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            if size > self.max_size {
                continue;
            }
            let entry = match decode(&bytes, name, key, self.secret.as_deref()) {
                Ok(entry) => entry,
                Err(reject) => {
                    // Not removed from Redis: another machine with another secret setting
                    // may legitimately use it, and the TTL retires it anyway.
                    self.counters.record(Event::Corrupt);
                    warn_once(WarnKind::Corrupt, || {
                        format!(
                            "kiln remote cache entry {key}/{name} in {} refused: {reject}",
                            remote.location()
                        )
                    });
                    continue;
                }
            };
            if entry.header != *expect {
                self.counters.record(Event::Stale);
                continue;
            }
            candidates += 1;
            if accept(&entry, name) {
                self.counters.record(Event::RemoteHit);
                // The local copy is written off the hit's critical path (its fsync costs
                // milliseconds on a busy disk); the next lookup of this cache waits for it.
                // Write-back failures are counted by the write path; the hit stands.
                let (storage, counters, max_size) =
                    (self.storage.clone(), self.counters.clone(), self.max_size);
                let (k, n) = (*key, name.to_string());
                let job = move || {
                    let _ = crate::cache::store_file(
                        storage.as_ref(),
                        &counters,
                        max_size,
                        &k,
                        &n,
                        &bytes,
                    );
                };
                match std::thread::Builder::new()
                    .name("kiln-cache-write-back".into())
                    .spawn(job)
                {
                    Ok(handle) => self
                        .write_backs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(handle),
                    Err(error) => {
                        tracing::debug!("kiln remote cache: no write-back thread: {error}")
                    }
                }
                remote.touch_later(key);
                return RemoteLookup::Hit(entry);
            }
        }
        self.counters.record(Event::RemoteMiss);
        RemoteLookup::Refused { candidates }
    }

    /// Queues an entry file for the remote level (no-op without one).
    pub(crate) fn put_remote(&self, key: &CacheKey, name: &str, bytes: &[u8]) {
        if let Some(remote) = &self.remote {
            remote.store_later(key, name, bytes);
        }
    }

    /// Waits up to `timeout` for queued remote writes (they also drain when the `Cache`
    /// drops). True when none is left, or when there is no remote level.
    pub fn flush_remote(&self, timeout: Duration) -> bool {
        self.flush();
        self.join_write_backs();
        self.remote.as_ref().is_none_or(|r| r.flush(timeout))
    }

    /// The remote level, when one is configured.
    pub fn remote_status(&self) -> Option<RemoteStatus> {
        self.remote.as_ref().map(RemoteLevel::status)
    }
}
