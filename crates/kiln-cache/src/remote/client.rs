//! The Redis commands of the remote level, each bounded by an overall deadline.
//!
//! Layout: one Redis hash per cache key, `<prefix><key hex>`, field = content hash, value =
//! the entry file's bytes. A lookup is one `HGETALL`; a write is `HSET` + `EXPIRE` in one
//! `MULTI`. Idle connections are pooled so that concurrent lookups do not queue behind one
//! socket (a queue would let one slow call delay others past the timeout).
//!
//! Connecting (with `AUTH` and `SELECT` as the URL asks) must finish within the timeout, and
//! so must each command with its whole reply, however slowly the server sends it; a reply
//! larger than the cache's entry size limit is refused from its declared length (`resp.rs`).
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::ConnectionAddr;

use super::config::RemoteConfig;
use super::resp::{Conn, Reply, RespError, ok};
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
    #[error("remote cache {location}: {what} is not supported (use redis://host:port/db)")]
    Unsupported { location: String, what: String },
    #[error("remote cache {location}: cannot connect within {timeout:?}: {source}")]
    Connect {
        location: String,
        timeout: Duration,
        #[source]
        source: RespError,
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
        source: RespError,
    },
}

/// A key's Redis hash as (field, value) pairs: (content hash, entry file bytes), unchecked.
pub(crate) type RawEntries = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) struct RedisClient {
    host: String,
    port: u16,
    /// `AUTH` arguments (user and password, or the password alone), if any.
    auth: Vec<String>,
    db: i64,
    location: String,
    prefix: String,
    /// Whole seconds, at least 1; `None`: no expiry.
    ttl_seconds: Option<u64>,
    timeout: Duration,
    /// The most reply bytes one command may read: the cache's entry size limit.
    max_reply: u64,
    idle: Mutex<Vec<Conn>>,
}

impl RedisClient {
    /// Parses the URL; connects only on first use. Replies larger than `max_reply` bytes are
    /// refused.
    pub(crate) fn new(config: &RemoteConfig, max_reply: u64) -> Result<RedisClient, RemoteError> {
        let location = config.location();
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| RemoteError::BadUrl {
                location: location.clone(),
                source,
            })?;
        let info = client.get_connection_info();
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Err(RemoteError::Unsupported {
                location,
                what: format!("the address {}", info.addr()),
            });
        };
        let settings = info.redis_settings();
        let auth = match (settings.username(), settings.password()) {
            (Some(user), Some(password)) => vec![user.to_string(), password.to_string()],
            (None, Some(password)) => vec![password.to_string()],
            _ => Vec::new(),
        };
        Ok(RedisClient {
            host,
            port,
            auth,
            db: settings.db(),
            location,
            prefix: config.prefix.clone(),
            ttl_seconds: config.ttl.map(|ttl| ttl.as_secs().max(1)),
            timeout: config.timeout,
            max_reply,
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
        let packed = redis::cmd("HGETALL")
            .arg(self.redis_key(key))
            .get_packed_command();
        let reply = self.with_connection("HGETALL", &packed, 1)?;
        let items = match reply.into_iter().next().map(ok) {
            Some(Ok(Reply::Array(Some(items)))) => items,
            Some(Err(e)) => return Err(self.failed("HGETALL", e)),
            other => return Err(self.unexpected("HGETALL", other)),
        };
        let mut fields = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let Some(field) = items.next() {
            match (field, items.next()) {
                (Reply::Bulk(Some(field)), Some(Reply::Bulk(Some(value)))) => {
                    fields.push((field, value));
                }
                _ => return Err(self.unexpected("HGETALL", None)),
            }
        }
        Ok(fields)
    }

    /// Stores one entry and (re)starts the key's expiry, in one `MULTI` ... `EXEC`.
    pub(crate) fn store(
        &self,
        key: &CacheKey,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), RemoteError> {
        let redis_key = self.redis_key(key);
        let mut packed = redis::cmd("MULTI").get_packed_command();
        packed.extend(
            redis::cmd("HSET")
                .arg(&redis_key)
                .arg(name)
                .arg(bytes)
                .get_packed_command(),
        );
        let mut replies = 3;
        if let Some(ttl) = self.ttl_seconds {
            packed.extend(
                redis::cmd("EXPIRE")
                    .arg(&redis_key)
                    .arg(ttl)
                    .get_packed_command(),
            );
            replies += 1;
        }
        packed.extend(redis::cmd("EXEC").get_packed_command());
        let reply = self.with_connection("HSET", &packed, replies)?;
        for r in reply {
            match ok(r) {
                Ok(Reply::Array(None)) => {
                    return Err(self.failed("HSET", RespError::Server("EXEC aborted".into())));
                }
                Ok(Reply::Array(Some(results))) => {
                    if let Some(Reply::Error(e)) =
                        results.into_iter().find(|r| matches!(r, Reply::Error(_)))
                    {
                        return Err(self.failed("HSET", RespError::Server(e)));
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(self.failed("HSET", e)),
            }
        }
        Ok(())
    }

    /// Restarts the key's expiry after a remote hit, so that used entries stay.
    pub(crate) fn touch(&self, key: &CacheKey) -> Result<(), RemoteError> {
        let Some(ttl) = self.ttl_seconds else {
            return Ok(());
        };
        let packed = redis::cmd("EXPIRE")
            .arg(self.redis_key(key))
            .arg(ttl)
            .get_packed_command();
        let reply = self.with_connection("EXPIRE", &packed, 1)?;
        match reply.into_iter().next().map(ok) {
            Some(Ok(Reply::Int(_))) => Ok(()),
            Some(Err(e)) => Err(self.failed("EXPIRE", e)),
            other => Err(self.unexpected("EXPIRE", other)),
        }
    }

    fn failed(&self, command: &'static str, source: RespError) -> RemoteError {
        // A reply that does not parse as RESP means something other than Redis answered (an
        // HTTP server on that port, say): "command failed" would send the user elsewhere.
        if let RespError::Protocol(reply) = &source {
            return RemoteError::NotRedis {
                location: self.location.clone(),
                reply: reply.split_whitespace().collect::<Vec<_>>().join(" "),
            };
        }
        self.command_error(command, source)
    }

    fn command_error(&self, command: &'static str, source: RespError) -> RemoteError {
        RemoteError::Command {
            location: self.location.clone(),
            command,
            source,
        }
    }

    fn unexpected(
        &self,
        command: &'static str,
        reply: Option<Result<Reply, RespError>>,
    ) -> RemoteError {
        let what = match reply {
            Some(Ok(r)) => format!("unexpected reply {r:?}"),
            Some(Err(e)) => e.to_string(),
            None => "unexpected reply".to_string(),
        };
        self.command_error(command, RespError::Protocol(what))
    }

    /// Sends `packed` on a pooled or new connection and reads `replies` replies, within one
    /// timeout (plus one for connecting). A connection that failed is dropped: after a
    /// timeout its stream may hold a late reply that would answer the next command.
    fn with_connection(
        &self,
        command: &'static str,
        packed: &[u8],
        replies: usize,
    ) -> Result<Vec<Reply>, RemoteError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let deadline = Instant::now() + self.timeout;
        match conn.call(packed, replies, deadline, self.max_reply) {
            Ok(value) => {
                if let Ok(mut idle) = self.idle.lock()
                    && idle.len() < MAX_IDLE_CONNECTIONS
                {
                    idle.push(conn);
                }
                Ok(value)
            }
            Err(source) => Err(self.failed(command, source)),
        }
    }

    /// A new connection, authenticated and on the URL's database, within the timeout.
    fn connect(&self) -> Result<Conn, RemoteError> {
        let error = |source| RemoteError::Connect {
            location: self.location.clone(),
            timeout: self.timeout,
            source,
        };
        let deadline = Instant::now() + self.timeout;
        let mut conn = Conn::connect(&self.host, self.port, deadline).map_err(error)?;
        let mut packed = Vec::new();
        let mut replies = 0;
        if !self.auth.is_empty() {
            let mut auth = redis::cmd("AUTH");
            for arg in &self.auth {
                auth.arg(arg);
            }
            packed.extend(auth.get_packed_command());
            replies += 1;
        }
        if self.db != 0 {
            packed.extend(redis::cmd("SELECT").arg(self.db).get_packed_command());
            replies += 1;
        }
        if replies > 0 {
            for reply in conn
                .call(&packed, replies, deadline, 1 << 16)
                .map_err(error)?
            {
                ok(reply).map_err(error)?;
            }
        }
        Ok(conn)
    }

    /// Drops pooled connections (after the level is disabled).
    pub(crate) fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
