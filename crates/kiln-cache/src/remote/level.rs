//! The remote level as `Cache` uses it: lookups on the caller's thread with a timeout, writes
//! on the background writer, every failure counted and handled by the [`Health`] policy.
use std::sync::Arc;
use std::time::Duration;

use super::client::{RawEntries, RedisClient, RemoteError};
use super::config::RemoteConfig;
use super::health::Health;
use super::writer::{WriteOp, Writer};
use crate::counters::{CounterBook, Event};
use crate::key::CacheKey;

/// What a `Cache`'s remote level is doing, for `kiln cache stats` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatus {
    /// The URL without its password.
    pub location: String,
    /// False once consecutive errors switched the level off for this process.
    pub enabled: bool,
}

struct Shared {
    client: RedisClient,
    health: Health,
    counters: Arc<CounterBook>,
}

impl Shared {
    /// Counts the outcome of one Redis call; `None` for a failure.
    fn settle<T>(&self, result: Result<T, RemoteError>) -> Option<T> {
        match result {
            Ok(value) => {
                self.health.succeeded();
                Some(value)
            }
            Err(error) => {
                self.counters.record(Event::RemoteError);
                if self.health.failed(self.client.location(), &error) {
                    self.client.close_idle();
                }
                None
            }
        }
    }

    fn apply(&self, op: WriteOp) {
        if self.health.is_disabled() {
            return;
        }
        match op {
            WriteOp::Store { key, name, bytes } => {
                self.settle(self.client.store(&key, &name, &bytes));
            }
            WriteOp::Touch { key } => {
                self.settle(self.client.touch(&key));
            }
        }
    }
}

pub(crate) struct RemoteLevel {
    shared: Arc<Shared>,
    writer: Option<Writer>,
}

impl RemoteLevel {
    /// `None` (with a warning) when the URL is unusable: the cache then works locally only.
    /// A level whose replies may be at most `max_reply` bytes (the cache's entry size limit).
    pub(crate) fn new(
        config: &RemoteConfig,
        counters: Arc<CounterBook>,
        max_reply: u64,
    ) -> Option<RemoteLevel> {
        let client = match RedisClient::new(config, max_reply) {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!("kiln cache continues without the remote level: {error}");
                return None;
            }
        };
        let shared = Arc::new(Shared {
            client,
            health: Health::new(config.max_consecutive_errors),
            counters,
        });
        let worker_shared = shared.clone();
        let writer = Writer::start(config.write_queue, config.flush_timeout, move |op| {
            worker_shared.apply(op)
        });
        Some(RemoteLevel { shared, writer })
    }

    pub(crate) fn status(&self) -> RemoteStatus {
        RemoteStatus {
            location: self.shared.client.location().to_string(),
            enabled: !self.shared.health.is_disabled(),
        }
    }

    pub(crate) fn location(&self) -> &str {
        self.shared.client.location()
    }

    /// The key's remote entries as (field, value) pairs, unchecked; `None` when the level is
    /// off or the call failed (counted).
    pub(crate) fn fetch(&self, key: &CacheKey) -> Option<RawEntries> {
        if self.shared.health.is_disabled() {
            return None;
        }
        self.shared.settle(self.shared.client.fetch(key))
    }

    pub(crate) fn store_later(&self, key: &CacheKey, name: &str, bytes: &[u8]) {
        self.push(WriteOp::Store {
            key: *key,
            name: name.to_string(),
            bytes: bytes.to_vec(),
        });
    }

    pub(crate) fn touch_later(&self, key: &CacheKey) {
        self.push(WriteOp::Touch { key: *key });
    }

    fn push(&self, op: WriteOp) {
        if self.shared.health.is_disabled() {
            if let Some(writer) = &self.writer {
                writer.discard_pending();
            }
            return;
        }
        let queued = self.writer.as_ref().is_some_and(|w| w.push(op));
        if !queued {
            // The entry stays on the local disk; only the sharing is lost.
            self.shared.counters.record(Event::RemoteError);
            tracing::debug!(
                "kiln remote cache {}: write queue full, write dropped",
                self.location()
            );
        }
    }

    /// Waits up to `timeout` for queued writes; true when none is left.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.writer.as_ref().is_none_or(|w| w.wait_idle(timeout))
    }
}
