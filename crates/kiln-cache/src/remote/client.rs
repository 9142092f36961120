//! The Redis commands of the remote level, each bounded by the configured timeout.
//!
//! Layout: one Redis hash per cache key, `<prefix><key hex>`, field = content hash, value =
//! the entry file's bytes. A lookup is one `HGETALL`; a write is `HSET` + `EXPIRE` in one
//! `MULTI`. Idle connections are pooled so that concurrent lookups do not queue behind one
//! socket (a queue would let one slow call delay others past the timeout).
use std::sync::Mutex;
use std::time::Duration;

use redis::{Connection, RedisResult};

use super::config::RemoteConfig;
use crate::key::CacheKey;

/// Idle connections kept for reuse; more concurrent callers open their own and drop them.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// A failed Redis operation.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote cache {location}: bad URL: {source}")]
    BadUrl {
        location: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("remote cache {location}: cannot connect within {timeout:?}: {source}")]
    Connect {
        location: String,
        timeout: Duration,
        #[source]
        source: redis::RedisError,
    },
    /// The TCP connection was made, but what answered is not Redis (an HTTP server on that
    /// port, say): saying "cannot connect" would send the user looking at the network.
    #[error(
        "remote cache {location}: connected, but the server did not answer as Redis does \
         ({reply}); is this the port of a Redis server?"
    )]
    NotRedis {
        location: String,
        /// The client's parse error on one line (it spans several).
        reply: String,
    },
    #[error("remote cache {location}: {command} failed: {source}")]
    Command {
        location: String,
        command: &'static str,
        #[source]
        source: redis::RedisError,
    },
}

/// A key's Redis hash as (field, value) pairs: (content hash, entry file bytes), unchecked.
pub(crate) type RawEntries = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) struct RedisClient {
    client: redis::Client,
    location: String,
    prefix: String,
    /// Whole seconds, at least 1; `None`: no expiry.
    ttl_seconds: Option<u64>,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl RedisClient {
    /// Parses the URL; connects only on first use.
    pub(crate) fn new(config: &RemoteConfig) -> Result<RedisClient, RemoteError> {
        let location = config.location();
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| RemoteError::BadUrl {
                location: location.clone(),
                source,
            })?;
        Ok(RedisClient {
            client,
            location,
            prefix: config.prefix.clone(),
            ttl_seconds: config.ttl.map(|ttl| ttl.as_secs().max(1)),
            timeout: config.timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn redis_key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.to_hex())
    }

    /// Every (field, value) of the key's hash: its entries, unchecked.
    pub(crate) fn fetch(&self, key: &CacheKey) -> Result<RawEntries, RemoteError> {
        let redis_key = self.redis_key(key);
        self.with_connection("HGETALL", |conn| {
            redis::cmd("HGETALL").arg(&redis_key).query(conn)
        })
    }

    /// Stores one entry and (re)starts the key's expiry.
    pub(crate) fn store(
        &self,
        key: &CacheKey,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), RemoteError> {
        let redis_key = self.redis_key(key);
        self.with_connection("HSET", |conn| {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HSET")
                .arg(&redis_key)
                .arg(name)
                .arg(bytes)
                .ignore();
            if let Some(ttl) = self.ttl_seconds {
                pipe.cmd("EXPIRE").arg(&redis_key).arg(ttl).ignore();
            }
            pipe.query::<()>(conn)
        })
    }

    /// Restarts the key's expiry after a remote hit, so that used entries stay.
    pub(crate) fn touch(&self, key: &CacheKey) -> Result<(), RemoteError> {
        let Some(ttl) = self.ttl_seconds else {
            return Ok(());
        };
        let redis_key = self.redis_key(key);
        self.with_connection("EXPIRE", |conn| {
            redis::cmd("EXPIRE")
                .arg(&redis_key)
                .arg(ttl)
                .query::<()>(conn)
        })
    }

    /// Runs `op` on a pooled or new connection. A connection that failed is dropped: after a
    /// timeout its stream may hold a late reply that would answer the next command.
    fn with_connection<T>(
        &self,
        command: &'static str,
        op: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, RemoteError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        match op(&mut conn) {
            Ok(value) => {
                if let Ok(mut idle) = self.idle.lock()
                    && idle.len() < MAX_IDLE_CONNECTIONS
                {
                    idle.push(conn);
                }
                Ok(value)
            }
            Err(source) => Err(RemoteError::Command {
                location: self.location.clone(),
                command,
                source,
            }),
        }
    }

    fn connect(&self) -> Result<Connection, RemoteError> {
        let error = |source: redis::RedisError| {
            // The client's handshake runs right after the TCP connect: an answer that does not
            // parse means something other than Redis is listening.
            if source.is_io_error() || source.is_timeout() || source.is_connection_refusal() {
                RemoteError::Connect {
                    location: self.location.clone(),
                    timeout: self.timeout,
                    source,
                }
            } else {
                RemoteError::NotRedis {
                    location: self.location.clone(),
                    reply: source
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                }
            }
        };
        let conn = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(error)?;
        conn.set_read_timeout(Some(self.timeout)).map_err(error)?;
        conn.set_write_timeout(Some(self.timeout)).map_err(error)?;
        Ok(conn)
    }

    /// Drops pooled connections (after the level is disabled).
    pub(crate) fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
