//! The shared second level: a Redis server behind the local disk, so that a fleet of machines
//! compiles each graph once. See doc/REMOTE.md at the repository root.
//!
//! Lookups go to the disk first, then to Redis (one `HGETALL` per key); a remote entry is
//! verified exactly like a disk entry (content hash, HMAC when a secret is set) and written
//! back to the disk. Stores go to the disk at once and to Redis on a background thread.
//! Redis being down, slow or answering garbage never fails a lookup or a store.

mod cache_level;
mod client;
mod config;
mod health;
mod level;
mod resp;
mod writer;

pub(crate) use cache_level::RemoteLookup;
pub use client::RemoteError;
pub use config::{
    DEFAULT_FLUSH_TIMEOUT, DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_REMOTE_PREFIX,
    DEFAULT_REMOTE_TIMEOUT, DEFAULT_REMOTE_TTL, DEFAULT_WRITE_QUEUE, RemoteConfig,
};
pub(crate) use level::RemoteLevel;
pub use level::RemoteStatus;
pub use resp::RespError;
