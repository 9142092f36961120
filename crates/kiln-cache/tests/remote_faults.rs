//! Redis down, killed mid-run, slow or answering garbage: lookups and stores still succeed
//! (locally), the counters say what happened, no call waits much past the timeout, and after
//! three errors in a row the remote level is off.
mod common;
mod remote_support;

use common::{entry, get_h, hit_artifact, key};
use kiln_cache::{Cache, Lookup, PutOutcome, RemoteConfig};
use remote_support::{
    PrivateRedis, closed_port_url, delaying_proxy, garbage_server, machine, raw, remote,
    test_redis, unique_prefix,
};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_millis(100);

/// Connect + one command, each bounded by the timeout, plus generous slack for a loaded box.
fn call_bound() -> Duration {
    TIMEOUT * 2 + Duration::from_millis(700)
}

fn fast_failing(url: &str, prefix: &str) -> RemoteConfig {
    RemoteConfig {
        timeout: TIMEOUT,
        flush_timeout: Duration::from_secs(1),
        ..remote(url, prefix)
    }
}

/// Runs lookups and stores of fresh keys against `cache`, checking each finishes in time and
/// works locally; returns the slowest call.
fn exercise(cache: &Cache, first_key: u8, count: u8) -> Duration {
    let mut slowest = Duration::ZERO;
    for k in first_key..first_key + count {
        let started = Instant::now();
        assert!(matches!(get_h(cache, &key(k), 1), Lookup::Miss));
        assert_eq!(cache.put(&entry(key(k), 1)).unwrap(), PutOutcome::Stored);
        assert!(
            hit_artifact(get_h(cache, &key(k), 1)).is_some(),
            "local hit"
        );
        let took = started.elapsed();
        assert!(took < call_bound(), "key {k} took {took:?}");
        slowest = slowest.max(took);
    }
    slowest
}

/// Three errors switch the level off; a call already in flight on the writer thread when the
/// third fails may add one more.
fn assert_disabled_after_three(cache: &Cache) {
    let counters = cache.counters();
    assert!((3..=4).contains(&counters.remote_error), "{counters:?}");
    assert_eq!(counters.remote_hit + counters.remote_miss, 0);
    assert_eq!(cache.remote_status().map(|s| s.enabled), Some(false));
}

#[test]
fn a_closed_port_costs_three_errors_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), fast_failing(&closed_port_url(), "p:"), None);
    exercise(&cache, 1, 10);
    assert_disabled_after_three(&cache);
    assert_eq!(cache.counters().miss, 10);
}

#[test]
fn a_slow_server_is_cut_off_at_the_timeout() {
    let Some(server) = PrivateRedis::start() else {
        return;
    };
    // Far beyond the per-call bound: a call that waited for the reply would fail `exercise`.
    let proxy = delaying_proxy(&server.url, Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), fast_failing(&proxy, "slow:"), None);
    let started = Instant::now();
    exercise(&cache, 1, 6);
    assert_disabled_after_three(&cache);
    drop(cache);
    // Six lookups and the drop (queued writes dropped or timed out): far less than six
    // round trips of the slow server.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn garbage_answers_are_errors_not_failures() {
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), fast_failing(&garbage_server(), "g:"), None);
    exercise(&cache, 1, 5);
    assert_disabled_after_three(&cache);
}

#[test]
fn a_key_of_the_wrong_type_is_a_remote_error() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("wrongtype");
    redis::cmd("SET")
        .arg(format!("{prefix}{}", key(1)))
        .arg("not a hash")
        .query::<()>(&mut raw(&url))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), fast_failing(&url, &prefix), None);
    assert!(matches!(get_h(&cache, &key(1), 1), Lookup::Miss));
    let counters = cache.counters();
    assert_eq!((counters.remote_error, counters.miss), (1, 1));
    // One error is not three: the level stays on and serves other keys.
    assert_eq!(cache.remote_status().map(|s| s.enabled), Some(true));
    assert!(matches!(get_h(&cache, &key(2), 1), Lookup::Miss));
    assert_eq!(cache.counters().remote_miss, 1);
}

#[test]
fn killing_the_server_mid_run_leaves_compiles_working() {
    let Some(mut server) = PrivateRedis::start() else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = machine(dir_a.path(), fast_failing(&server.url, "kill:"), None);
    let b = machine(dir_b.path(), fast_failing(&server.url, "kill:"), None);
    a.put(&entry(key(1), 1)).unwrap();
    assert!(a.flush_remote(Duration::from_secs(5)));
    assert!(hit_artifact(get_h(&b, &key(1), 1)).is_some());
    assert_eq!(b.counters().remote_hit, 1);

    server.kill();
    exercise(&b, 10, 8);
    let counters = b.counters();
    assert!((3..=4).contains(&counters.remote_error), "{counters:?}");
    assert_eq!(b.remote_status().map(|s| s.enabled), Some(false));
    // What B already had keeps hitting locally.
    assert!(hit_artifact(get_h(&b, &key(1), 1)).is_some());
    let started = Instant::now();
    drop(b);
    assert!(started.elapsed() < call_bound());
}

#[test]
fn a_bad_url_means_local_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = machine(dir.path(), remote("http://not-redis/", "x:"), None);
    assert_eq!(cache.remote_status(), None);
    exercise(&cache, 1, 2);
    assert_eq!(cache.counters().remote_error, 0);
}
