//! Fixtures of the remote-level tests: the shared test server (`KILN_TEST_REDIS`), private
//! servers a test may kill, and loopback stand-ins for slow or broken servers.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use kiln_cache::{Cache, CacheConfig, RemoteConfig};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../../../../tests/skip_support/mod.rs"]
mod skip_support;

pub const SKIPPED: &str = "no Redis server (set KILN_TEST_REDIS)";

/// The shared test server's URL when it answers; otherwise prints the skip line.
pub fn test_redis() -> Option<String> {
    let url = std::env::var("KILN_TEST_REDIS")
        .ok()
        .filter(|u| !u.is_empty());
    match url {
        Some(url) if ping(&url) => Some(url),
        _ => {
            skip_support::skip(SKIPPED);
            None
        }
    }
}

fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return false;
    };
    redis::cmd("PING").query::<String>(&mut conn).is_ok()
}

/// A raw connection for planting and inspecting keys by hand.
pub fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .expect("connect to the test Redis")
}

/// A key prefix of this test alone, so that tests sharing one server never see each other.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "kiln-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn remote(url: &str, prefix: &str) -> RemoteConfig {
    RemoteConfig {
        prefix: prefix.to_string(),
        ..RemoteConfig::new(url)
    }
}

/// A "machine": its own cache directory, the shared remote level.
pub fn machine(dir: &Path, remote: RemoteConfig, secret: Option<&[u8]>) -> Cache {
    Cache::open(CacheConfig {
        dir: dir.to_path_buf(),
        max_size: 1 << 30,
        secret: secret.map(<[u8]>::to_vec),
        secret_error: None,
        remote: Some(remote),
    })
    .expect("open cache")
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A redis-server child of this test, killed on drop or by [`PrivateRedis::kill`].
pub struct PrivateRedis {
    pub url: String,
    child: Child,
}

impl PrivateRedis {
    /// `None` (printing the skip line) when redis-server is not installed.
    pub fn start() -> Option<PrivateRedis> {
        for _ in 0..5 {
            let port = free_port();
            let Ok(child) = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                skip_support::skip(SKIPPED);
                return None;
            };
            let mut server = PrivateRedis {
                url: format!("redis://127.0.0.1:{port}/0"),
                child,
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if ping(&server.url) {
                    return Some(server);
                }
                thread::sleep(Duration::from_millis(20));
            }
            server.kill();
        }
        skip_support::skip(SKIPPED);
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback proxy to `upstream` that holds every reply back for `delay`: a slow server.
pub fn delaying_proxy(upstream: &str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let upstream = upstream
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (client_in, server_out) = (client.try_clone(), server.try_clone());
            let (Ok(client_in), Ok(server_out)) = (client_in, server_out) else {
                continue;
            };
            thread::spawn(move || pump(client_in, server_out, Duration::ZERO));
            thread::spawn(move || pump(server, client, delay));
        }
    });
    format!("redis://127.0.0.1:{port}/0")
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A loopback server that answers every request with bytes that are not RESP.
pub fn garbage_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind garbage server");
    let port = listener.local_addr().expect("address").port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0
                        || stream
                            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/0")
}

/// A URL whose port nothing listens on.
pub fn closed_port_url() -> String {
    format!("redis://127.0.0.1:{}/0", free_port())
}
