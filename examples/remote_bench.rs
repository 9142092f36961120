//! Hit latency of the shared Redis level on loopback against the local disk and a miss.
//!
//! Compiles a real graph once (the miss: schedule + codegen + store), then times lookups of
//! its entry: from the local disk, from Redis into an empty local directory (fetch, verify,
//! write back), and of an unknown key (local miss + one Redis round trip).
//!
//! Needs a Redis server: `redis-server --port 6379 --save '' --daemonize yes` starts a
//! throwaway one (`source .ci/start-redis.sh` picks a free port and exports its URL), then
//! `cargo run --release --example remote_bench [-- --json]` uses `KILN_REMOTE_CACHE` (or
//! `KILN_TEST_REDIS`), else `redis://127.0.0.1:6379/0`.
mod common;

use std::time::{Duration, Instant};

use common::relu_pool_sigmoid_graph;
use kiln::{CompileOptions, Compiler, Outcome};
use kiln_cache::{Cache, CacheConfig, CacheKey, Entry, Lookup, RemoteConfig};

const ROUNDS: usize = 200;

struct Timing {
    case: &'static str,
    samples: Vec<Duration>,
}

impl Timing {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(at).map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    }

    fn print(&self, json: bool, artifact_bytes: usize) {
        let (p50, p90) = (self.quantile(0.5), self.quantile(0.9));
        if json {
            println!(
                "{{\"case\":\"{}\",\"rounds\":{},\"artifact_bytes\":{artifact_bytes},\
                 \"p50_us\":{p50:.1},\"p90_us\":{p90:.1}}}",
                self.case,
                self.samples.len()
            );
        } else {
            println!(
                "{:<28} p50 {p50:>10.1} us   p90 {p90:>10.1} us   ({} rounds)",
                self.case,
                self.samples.len()
            );
        }
    }
}

fn open(
    dir: &std::path::Path,
    remote: Option<RemoteConfig>,
) -> Result<Cache, kiln_cache::CacheError> {
    Cache::open(CacheConfig {
        dir: dir.to_path_buf(),
        remote,
        ..CacheConfig::from_vars(|_| None)
    })
}

/// Whether something accepts TCP connections at the URL's `host:port` (within a second).
fn answers(url: &str) -> bool {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or_default();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, hp)| hp);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:6379")
    };
    host_port.to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    })
}

fn no_redis(url: &str) -> String {
    format!(
        "remote_bench needs a Redis server, and none answers at {url}. Start one with \
         `redis-server --port 6379 --save '' --daemonize yes` (or `source .ci/start-redis.sh`, \
         which picks a free port and exports KILN_TEST_REDIS), or point KILN_REMOTE_CACHE at \
         yours (redis://host:port/db)"
    )
}

fn time(case: &'static str, rounds: usize, mut once: impl FnMut() -> Duration) -> Timing {
    Timing {
        case,
        samples: (0..rounds).map(|_| once()).collect(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    let url = std::env::var("KILN_REMOTE_CACHE")
        .or_else(|_| std::env::var("KILN_TEST_REDIS"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_string());
    if !answers(&url) {
        return Err(no_redis(&url).into());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let remote = RemoteConfig {
        prefix: format!("kiln-bench:{}:{}:", std::process::id(), nanos.as_nanos()),
        ttl: Some(Duration::from_secs(600)),
        ..RemoteConfig::new(&url)
    };

    // The miss: a real compile through a fresh local cache.
    let compile_dir = tempfile::tempdir()?;
    let shapes = [vec![2, 16, 64, 64], vec![1, 16, 1, 1]];
    let graph = kiln::parse(&relu_pool_sigmoid_graph("remote_bench"))?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(compile_dir.path()));
    let f = compiler.compile(&graph)?;
    let mut compile_samples = Vec::new();
    for _ in 0..5 {
        compiler.cache().ok_or("no cache")?.clear()?;
        f.reset();
        let started = Instant::now();
        let report = f.prepare(&shapes)?;
        compile_samples.push(started.elapsed());
        assert_eq!(report.outcome, Outcome::Miss);
    }
    let info = compiler
        .cache()
        .ok_or("no cache")?
        .list()?
        .pop()
        .ok_or("no entry")?;
    let header = info.header.clone().ok_or("unreadable entry")?;
    let entry: Entry =
        match compiler
            .cache()
            .ok_or("no cache")?
            .get(&info.key, &header, &mut |_, _| true)
        {
            Lookup::Hit(entry) => entry,
            other => return Err(format!("compiled entry not found: {other:?}").into()),
        };

    // Publish it to Redis.
    let publisher_dir = tempfile::tempdir()?;
    let publisher = open(publisher_dir.path(), Some(remote.clone()))?;
    publisher.put(&entry)?;
    if !publisher.flush_remote(Duration::from_secs(5)) || publisher.counters().remote_error > 0 {
        return Err(format!("cannot write to Redis: {}", no_redis(&url)).into());
    }

    let dir = tempfile::tempdir()?;
    let reader = open(dir.path(), Some(remote))?;
    let local_only = open(dir.path(), None)?;
    let mut accept_all = |_: &Entry, _: &str| true;
    let remote_hit = time("hit_from_redis", ROUNDS, || {
        let _ = reader.clear(); // the local copy goes; the next lookup must come from Redis
        let started = Instant::now();
        let hit = matches!(
            reader.get(&info.key, &header, &mut accept_all),
            Lookup::Hit(_)
        );
        let took = started.elapsed();
        assert!(hit);
        took
    });
    // The last remote hit's local copy is written in the background: wait for it.
    reader.flush_remote(Duration::from_secs(5));
    let local_hit = time("hit_from_local_disk", ROUNDS, || {
        let started = Instant::now();
        let hit = matches!(
            local_only.get(&info.key, &header, &mut accept_all),
            Lookup::Hit(_)
        );
        let took = started.elapsed();
        assert!(hit);
        took
    });
    let mut unknown = 0u8;
    let miss = time("miss_local_and_redis", ROUNDS, || {
        unknown = unknown.wrapping_add(1);
        let key = CacheKey([unknown; 32]);
        let started = Instant::now();
        let missed = matches!(reader.get(&key, &header, &mut accept_all), Lookup::Miss);
        let took = started.elapsed();
        assert!(missed);
        took
    });
    let compile = Timing {
        case: "miss_compile_and_store",
        samples: compile_samples,
    };
    let counters = reader.counters();
    assert_eq!(counters.remote_hit as usize, ROUNDS);
    assert_eq!(counters.remote_error, 0);
    for timing in [&local_hit, &remote_hit, &miss, &compile] {
        timing.print(json, entry.artifact.len());
    }
    Ok(())
}
