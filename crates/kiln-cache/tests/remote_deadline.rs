//! The remote level against servers on 127.0.0.1 that stretch or inflate replies (issue 13,
//! item 12): a server that drips its reply a byte at a time cannot stretch a call past its
//! deadline, and a reply that declares more bytes than the cache's entry size limit is
//! refused from its header, before its body is read. A small in-memory server that speaks
//! the commands kiln uses checks that lookups and stores still work.
mod common;
mod remote_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{entry, get_h, hit_artifact, key};
use kiln_cache::{Lookup, PutOutcome, RemoteConfig};
use remote_support::{machine, remote};

const TIMEOUT: Duration = Duration::from_millis(200);

fn config(url: &str) -> RemoteConfig {
    RemoteConfig {
        timeout: TIMEOUT,
        flush_timeout: Duration::from_secs(2),
        ..remote(url, "deadline:")
    }
}

/// Reads one command (an array of bulk strings) as its arguments.
fn read_command(r: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    r.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0u8; len + 2];
        r.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(arg);
    }
    Some(args)
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(format!("${}\r\n", bytes.len()).into_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Redis hashes by key: (field, value) pairs.
type Hashes = HashMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// A server that keeps hashes in memory and answers HGETALL, MULTI/HSET/EXPIRE/EXEC.
fn memory_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hashes: Arc<Mutex<Hashes>> = Arc::default();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let hashes = hashes.clone();
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut queued: Vec<Vec<Vec<u8>>> = Vec::new();
                let mut in_multi = false;
                while let Some(args) = read_command(&mut r) {
                    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
                    let mut out = Vec::new();
                    match name.as_str() {
                        "MULTI" => {
                            in_multi = true;
                            out.extend(b"+OK\r\n");
                        }
                        "EXEC" => {
                            in_multi = false;
                            out.extend(format!("*{}\r\n", queued.len()).into_bytes());
                            for cmd in queued.drain(..) {
                                if cmd[0].eq_ignore_ascii_case(b"HSET") {
                                    let mut h = hashes.lock().unwrap();
                                    let fields = h.entry(cmd[1].clone()).or_default();
                                    fields.retain(|(f, _)| *f != cmd[2]);
                                    fields.push((cmd[2].clone(), cmd[3].clone()));
                                }
                                out.extend(b":1\r\n");
                            }
                        }
                        _ if in_multi => {
                            queued.push(args);
                            out.extend(b"+QUEUED\r\n");
                        }
                        "HGETALL" => {
                            let h = hashes.lock().unwrap();
                            let fields = h.get(&args[1]).cloned().unwrap_or_default();
                            out.extend(format!("*{}\r\n", fields.len() * 2).into_bytes());
                            for (f, v) in fields {
                                bulk(&mut out, &f);
                                bulk(&mut out, &v);
                            }
                        }
                        "EXPIRE" => out.extend(b":1\r\n"),
                        _ => out.extend(b"-ERR unknown command\r\n"),
                    }
                    if w.write_all(&out).is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/0")
}

/// A server that answers every command with `reply`, sent one byte every `pause`.
fn dripping_server(reply: &'static [u8], pause: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                while read_command(&mut r).is_some() {
                    for b in reply {
                        thread::sleep(pause);
                        if w.write_all(&[*b]).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/0")
}

/// A server that declares a 4 GiB bulk string and streams zeros (at most 256 MiB, so that a
/// client that does read it cannot exhaust the test machine); counts the bytes it got out.
fn inflating_server(sent: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sent = sent.clone();
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                if read_command(&mut r).is_none() {
                    return;
                }
                let header = b"*2\r\n$4\r\nname\r\n$4294967296\r\n";
                if w.write_all(header).is_err() {
                    return;
                }
                let zeros = vec![0u8; 1 << 16];
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline && sent.load(Ordering::Relaxed) < 256 << 20 {
                    match w.write(&zeros) {
                        Ok(n) if n > 0 => sent.fetch_add(n as u64, Ordering::Relaxed),
                        _ => return,
                    };
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/0")
}

#[test]
fn lookups_and_stores_work_against_a_server_speaking_the_commands() {
    let url = memory_server();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = machine(a.path(), config(&url), None);
    assert_eq!(first.put(&entry(key(1), 3)).unwrap(), PutOutcome::Stored);
    drop(first); // flushes the queued remote write
    let second = machine(b.path(), config(&url), None);
    assert!(
        hit_artifact(get_h(&second, &key(1), 3)).is_some(),
        "served from the remote level"
    );
    assert_eq!(second.counters().remote_hit, 1, "{:?}", second.counters());
    assert_eq!(second.counters().remote_error, 0);
}

#[test]
fn a_server_dripping_its_reply_cannot_stretch_a_lookup_past_the_deadline() {
    // A one-field HGETALL reply of 62 bytes, 1 byte every 150 ms (9 s in all): each read is
    // within the 200 ms timeout, the whole reply is not.
    let url = dripping_server(
        b"*2\r\n$4\r\nname\r\n$40\r\n0123456789012345678901234567890123456789\r\n",
        Duration::from_millis(150),
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), config(&url), None);
    let started = Instant::now();
    assert!(matches!(get_h(&cache, &key(1), 1), Lookup::Miss));
    let took = started.elapsed();
    // Connect and the command each get the timeout; plus slack for a loaded machine.
    assert!(
        took < TIMEOUT * 2 + Duration::from_millis(700),
        "lookup took {took:?}"
    );
    assert_eq!(cache.counters().remote_error, 1, "{:?}", cache.counters());
}

#[test]
fn a_reply_declaring_more_than_the_size_limit_is_refused_from_its_header() {
    let sent = Arc::new(AtomicU64::new(0));
    let url = inflating_server(sent.clone());
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), config(&url), None);
    let started = Instant::now();
    assert!(matches!(get_h(&cache, &key(1), 1), Lookup::Miss));
    let took = started.elapsed();
    drop(cache);
    assert!(
        took < TIMEOUT * 2 + Duration::from_millis(700),
        "lookup took {took:?}"
    );
    // The client stopped reading at the header: the server could only fill socket buffers.
    thread::sleep(Duration::from_millis(300));
    let streamed = sent.load(Ordering::Relaxed);
    assert!(
        streamed < 64 << 20,
        "the client read {streamed} bytes of a refused reply"
    );
}
