//! kiln's on-disk guarded graph cache.
//!
//! Entries are stored per cache key (a sha256 the driver computes), several per key: one per
//! guard set. [`Cache::get`] walks a key's entries, verifies each (content hash, format,
//! optional HMAC signature) and asks the driver's `accept` callback whether its guards hold;
//! the cache itself evaluates nothing and knows no compiler. Artifacts are opaque bytes.
//!
//! Files are written by temp + link/rename (atomic, not fsynced: see "Durability"), a per-key
//! file lock serialises compiles, the size is bounded with LRU eviction, and the directory
//! and every level below it must be private (mode 0700) and are opened by descriptor without
//! following links: whoever can write it can run code in this process. See `doc/FORMAT.md`.
//!
//! Optionally a Redis server is a second level behind the disk, shared by a fleet
//! ([`RemoteConfig`], `KILN_REMOTE_CACHE`; see `doc/REMOTE.md` at the repository root).

mod admin;
mod bundle;
mod bundle_read;
mod cache;
mod codec;
mod config;
mod counters;
mod discard;
mod disk;
mod entry;
mod error;
mod fsat;
mod index;
mod key;
mod listing;
mod lock;
mod remote;
mod rmtree;
mod scan;
mod storage;
mod trust;
mod warn_once;

pub use admin::{BackendStats, BadEntry, CacheStats, EntryInfo, PruneReport, VerifyReport};
pub use bundle::{BUNDLE_MAGIC, BUNDLE_VERSION, ImportReport};
pub use cache::{Cache, Lookup, PutOutcome, flush_pending_stores};
pub use codec::{FORMAT_VERSION, MAGIC, Reject, content_hash, decode, encode};
pub use config::{CacheConfig, DEFAULT_MAX_SIZE, SecretError, SizeParseError, parse_size};
pub use counters::{Counters, FLUSH_EVERY_EVENTS, FLUSH_INTERVAL};
pub use disk::{DiskStorage, TEMP_MAX_AGE, TEMP_PREFIX};
pub use entry::{Entry, EntryHeader, EntryMeta};
pub use error::{CacheError, StorageError, WriteFailure};
pub use key::{CacheKey, KeyParseError};
pub use lock::{KeyLock, SHARED_LOCK_FILE};
pub use remote::{
    DEFAULT_FLUSH_TIMEOUT, DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_REMOTE_PREFIX,
    DEFAULT_REMOTE_TIMEOUT, DEFAULT_REMOTE_TTL, DEFAULT_WRITE_QUEUE, RemoteConfig, RemoteError,
    RemoteStatus, RespError,
};
pub use storage::{Eviction, SaveOutcome, Storage, StoredFile};
