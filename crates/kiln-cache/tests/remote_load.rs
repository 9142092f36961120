//! Eight "machines" on eight threads, 100 stores and 100 lookups each, against one Redis:
//! bounded in time, no remote errors, and every store visible to a ninth machine afterwards.
mod common;
mod remote_support;

use common::{entry, get_h, hit_artifact, key};
use kiln_cache::CacheKey;
use remote_support::{machine, remote, test_redis, unique_prefix};
use std::time::{Duration, Instant};

const MACHINES: u8 = 8;
const ROUNDS: u8 = 100;

fn key_of(machine: u8, round: u8) -> CacheKey {
    let mut k = key(machine).0;
    k[1] = round;
    CacheKey(k)
}

#[test]
fn eight_machines_by_one_hundred() {
    let Some(url) = test_redis() else { return };
    let prefix = unique_prefix("load");
    let started = Instant::now();
    let dirs: Vec<_> = (0..MACHINES)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    std::thread::scope(|scope| {
        for (m, dir) in (0..MACHINES).zip(&dirs) {
            let (url, prefix) = (&url, &prefix);
            scope.spawn(move || {
                let cache = machine(dir.path(), remote(url, prefix), None);
                for round in 0..ROUNDS {
                    cache
                        .put(&entry(key_of(m, round), i64::from(round)))
                        .unwrap();
                    // A neighbour's key: a remote hit if it was stored already, else a miss.
                    let neighbour = key_of((m + 1) % MACHINES, round);
                    if let Some(artifact) = hit_artifact(get_h(&cache, &neighbour, round.into())) {
                        assert_eq!(artifact, entry(neighbour, round.into()).artifact);
                    }
                }
                assert!(cache.flush_remote(Duration::from_secs(20)));
                let counters = cache.counters();
                assert_eq!(counters.remote_error, 0, "{counters:?}");
                assert_eq!(
                    counters.remote_hit + counters.remote_miss,
                    u64::from(ROUNDS)
                );
            });
        }
    });
    let observer_dir = tempfile::tempdir().unwrap();
    let observer = machine(observer_dir.path(), remote(&url, &prefix), None);
    for m in 0..MACHINES {
        for round in (0..ROUNDS).step_by(7) {
            assert!(
                hit_artifact(get_h(&observer, &key_of(m, round), round.into())).is_some(),
                "machine {m} round {round}"
            );
        }
    }
    let took = started.elapsed();
    println!("remote load: 8 x 100 stores + lookups in {took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}
