//! A minimal RESP2 connection whose every call has an overall deadline and a reply budget.
//!
//! A socket read timeout bounds each `read`, not a call: a server that sends one byte every
//! 150 ms never trips a 200 ms timeout and can stretch a lookup to minutes. And a client that
//! trusts a bulk string's declared length reads (and buffers) gigabytes before it can refuse
//! them. So the remote level speaks RESP itself for its few commands (commands are encoded by
//! the `redis` crate): before every read the socket timeout is set to what is left of the
//! call's deadline, and every declared length is checked against what the call may still
//! read (the cache's entry size limit) before a byte of it is read. Memory grows only with
//! bytes actually received.
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(Vec<u8>),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("no complete reply within {0:?}")]
    Deadline(Duration),
    #[error("the reply declares {declared} bytes, more than the {limit} bytes a reply may have")]
    TooLarge { declared: u64, limit: u64 },
    #[error("malformed reply: {0}")]
    Protocol(String),
    #[error("the server answered an error: {0}")]
    Server(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Longest status or length line accepted (`+OK`, `$123`): far beyond any real one.
const MAX_LINE: usize = 4096;
/// Deepest nesting accepted (kiln's replies nest at most twice).
const MAX_DEPTH: usize = 4;
/// Bytes read from the socket at a time.
const CHUNK: usize = 64 << 10;

/// An open connection: the socket and bytes received but not yet parsed.
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    /// Connects to `host:port` before `deadline`.
    pub(crate) fn connect(host: &str, port: u16, deadline: Instant) -> Result<Conn, RespError> {
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            let left = remaining(deadline)?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(Conn {
                        stream,
                        buf: Vec::new(),
                        pos: 0,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || RespError::Protocol(format!("{host} resolves to no address")),
            RespError::Io,
        ))
    }

    /// Sends `packed` (one or more encoded commands) and reads `replies` replies, all before
    /// `deadline` and within `budget` reply bytes. An error reply is returned as a reply.
    pub(crate) fn call(
        &mut self,
        packed: &[u8],
        replies: usize,
        deadline: Instant,
        budget: u64,
    ) -> Result<Vec<Reply>, RespError> {
        self.stream.set_write_timeout(Some(remaining(deadline)?))?;
        self.stream
            .write_all(packed)
            .map_err(|e| timed_out(e, deadline))?;
        let mut call = Call {
            conn: self,
            deadline,
            budget,
            limit: budget,
        };
        (0..replies).map(|_| call.reply(0)).collect()
    }
}

fn remaining(deadline: Instant) -> Result<Duration, RespError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(RespError::Deadline(Duration::ZERO));
    }
    Ok(left)
}

fn timed_out(e: io::Error, deadline: Instant) -> RespError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            RespError::Deadline(deadline.saturating_duration_since(Instant::now()))
        }
        _ => RespError::Io(e),
    }
}

/// One call's reading state.
struct Call<'a> {
    conn: &'a mut Conn,
    deadline: Instant,
    /// Reply bytes this call may still read.
    budget: u64,
    limit: u64,
}

impl Call<'_> {
    /// Receives more bytes, waiting at most until the deadline.
    fn fill(&mut self) -> Result<(), RespError> {
        let conn = &mut *self.conn;
        if conn.pos > 0 {
            conn.buf.drain(..conn.pos);
            conn.pos = 0;
        }
        conn.stream
            .set_read_timeout(Some(remaining(self.deadline)?))?;
        let start = conn.buf.len();
        conn.buf.resize(start + CHUNK, 0);
        let read = conn.stream.read(&mut conn.buf[start..]);
        conn.buf.truncate(start + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => Err(RespError::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(timed_out(e, self.deadline)),
        }
    }

    /// Counts `n` bytes against the budget; `declared` is what the reply claims in total.
    fn spend(&mut self, n: u64, declared: u64) -> Result<(), RespError> {
        self.budget = self.budget.checked_sub(n).ok_or(RespError::TooLarge {
            declared,
            limit: self.limit,
        })?;
        Ok(())
    }

    /// One line without its CRLF.
    fn line(&mut self) -> Result<Vec<u8>, RespError> {
        loop {
            let conn = &*self.conn;
            let pending = &conn.buf[conn.pos..];
            if let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                let line = pending[..end].to_vec();
                self.spend(end as u64 + 2, end as u64 + 2)?;
                self.conn.pos += end + 2;
                return Ok(line);
            }
            if pending.len() > MAX_LINE {
                return Err(RespError::Protocol(format!(
                    "a line longer than {MAX_LINE} bytes"
                )));
            }
            self.fill()?;
        }
    }

    fn number(&mut self, line: &[u8]) -> Result<i64, RespError> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                RespError::Protocol(format!(
                    "expected a number, found {:?}",
                    String::from_utf8_lossy(line)
                ))
            })
    }

    /// Exactly `n` bytes and the CRLF after them, `n` already checked against the budget.
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, RespError> {
        let mut out = Vec::new();
        while out.len() < n {
            let conn = &mut *self.conn;
            let pending = &conn.buf[conn.pos..];
            let take = pending.len().min(n - out.len());
            out.extend_from_slice(&pending[..take]);
            conn.pos += take;
            if out.len() < n {
                self.fill()?;
            }
        }
        while self.conn.buf.len() - self.conn.pos < 2 {
            self.fill()?;
        }
        let conn = &mut *self.conn;
        if &conn.buf[conn.pos..conn.pos + 2] != b"\r\n" {
            return Err(RespError::Protocol("a bulk string without its CRLF".into()));
        }
        conn.pos += 2;
        Ok(out)
    }

    fn reply(&mut self, depth: usize) -> Result<Reply, RespError> {
        if depth > MAX_DEPTH {
            return Err(RespError::Protocol("replies nested too deeply".into()));
        }
        let line = self.line()?;
        let Some((&kind, rest)) = line.split_first() else {
            return Err(RespError::Protocol("an empty line".into()));
        };
        match kind {
            b'+' => Ok(Reply::Simple(rest.to_vec())),
            b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
            b':' => Ok(Reply::Int(self.number(rest)?)),
            b'$' => match self.number(rest)? {
                -1 => Ok(Reply::Bulk(None)),
                n if n < 0 => Err(RespError::Protocol(format!("bulk length {n}"))),
                n => {
                    // Refused from the header: nothing of a too-long string is read.
                    self.spend(n as u64 + 2, n as u64)?;
                    let n = usize::try_from(n)
                        .map_err(|_| RespError::Protocol(format!("bulk length {n}")))?;
                    Ok(Reply::Bulk(Some(self.exact(n)?)))
                }
            },
            b'*' => match self.number(rest)? {
                -1 => Ok(Reply::Array(None)),
                n if n < 0 => Err(RespError::Protocol(format!("array length {n}"))),
                n => {
                    // Every element takes at least 3 bytes (`+\r\n`).
                    if (n as u64).saturating_mul(3) > self.budget {
                        return Err(RespError::TooLarge {
                            declared: (n as u64).saturating_mul(3),
                            limit: self.limit,
                        });
                    }
                    let items = (0..n)
                        .map(|_| self.reply(depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Reply::Array(Some(items)))
                }
            },
            other => Err(RespError::Protocol(format!(
                "unknown reply type {:?}",
                char::from(other)
            ))),
        }
    }
}

/// The reply as `Ok`, or the server's error.
pub(crate) fn ok(reply: Reply) -> Result<Reply, RespError> {
    match reply {
        Reply::Error(message) => Err(RespError::Server(message)),
        reply => Ok(reply),
    }
}
