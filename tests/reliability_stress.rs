//! Many processes compiling the same graphs into one cache directory at once.
//!
//! Each child (this test binary in child mode) compiles 3 graphs x 3 shapes under a static and
//! a dynamic policy, in its own random order, resetting before every call so that each one
//! goes through the cache; it checks every output against the interpreter and prints its
//! outcomes. The parent checks: every (key, guard set) was compiled by exactly one process
//! (the per-key lock held across lookup, compile and store) and served as a hit to all the
//! others, the lifetime counters agree, nothing was corrupt or torn, and no temporary file is
//! left. `KILN_STRESS_LONG=1` runs more processes and rounds.
mod reliability_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiln::{CompileOptions, Compiler, DynamicPolicy, Outcome};
use reliability_support::*;

const ROLE: &str = "stress";
const ROUNDS_VAR: &str = "KILN_RELIABILITY_ROUNDS";
const SIZES: [usize; 3] = [1, 4, 9];

#[test]
fn child_stress_worker() {
    if child_role().as_deref() != Some(ROLE) {
        return;
    }
    let dir = child_dir();
    let seed = child_seed();
    let rounds: usize = std::env::var(ROUNDS_VAR)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let policies = [
        ("static", DynamicPolicy::Static),
        ("dynamic", DynamicPolicy::Dynamic),
    ];
    let mut functions = Vec::new();
    for (policy_name, policy) in policies {
        let compiler = Compiler::new(CompileOptions::default().cache_dir(&dir).dynamic(policy));
        for (index, (graph_name, _)) in GRAPHS.iter().enumerate() {
            let f = compiler.compile(&graph(index)).expect("compile");
            functions.push((format!("{graph_name}/{policy_name}"), f));
        }
    }
    let mut work: Vec<(usize, usize)> = (0..functions.len())
        .flat_map(|f| SIZES.iter().map(move |&s| (f, s)))
        .collect();
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    for _ in 0..rounds {
        rng.shuffle(&mut work);
        for &(index, size) in &work {
            let (name, f) = &functions[index];
            let inputs = inputs_for(f.graph(), size, seed ^ size as u64);
            let shapes = shapes_of(&inputs);
            f.reset();
            let report = f.prepare(&shapes).expect("prepare");
            assert!(
                !matches!(report.outcome, Outcome::Bypass(_) | Outcome::Memory),
                "{name} size {size}: went through the cache ({:?})",
                report.outcome
            );
            print_outcome(&report, name, size);
            run_and_check(f, &inputs, &format!("{name} size {size}"));
        }
    }
    // Every cache lookup of this process, `run` included (which may look up again: see the
    // ignored test in reliability_faults.rs), for the parent to add up.
    let totals = kiln::process_counters();
    println!(
        "{COUNTERS_TAG}\t{}\t{}\t{}",
        totals.hit, totals.miss, totals.guard_miss
    );
}

const COUNTERS_TAG: &str = "KILN-COUNTERS";

/// The (hit, miss, guard_miss) line a worker printed.
fn worker_counters(stdout: &[u8]) -> [u64; 3] {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(COUNTERS_TAG))
        .expect("the worker printed its counters");
    let values: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().expect("a count"))
        .collect();
    [values[0], values[1], values[2]]
}

#[test]
fn processes_compile_each_specialisation_once() {
    if child_role().is_some() {
        return;
    }
    let (processes, rounds) = if long_mode() { (32, 10) } else { (8, 2) };
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(if long_mode() { 900 } else { 120 });
    let children: Vec<_> = (0..processes)
        .map(|i| {
            let mut command = std::process::Command::new(std::env::current_exe().expect("exe"));
            command
                .args(["child_stress_worker", "--exact", "--nocapture"])
                .env(CHILD_ROLE, ROLE)
                .env(CHILD_DIR, dir.path())
                .env(CHILD_SEED, (i as u64 + 1).to_string())
                .env(ROUNDS_VAR, rounds.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().expect("spawn a worker")
        })
        .collect();
    let mut lines = Vec::new();
    let mut lookups = [0u64; 3];
    for (i, child) in children.into_iter().enumerate() {
        let output = wait_bounded(child, deadline, &format!("worker {i}"));
        expect_success(&output, &format!("worker {i}"));
        lines.extend(parse_outcomes(&output.stdout));
        for (sum, n) in lookups.iter_mut().zip(worker_counters(&output.stdout)) {
            *sum += n;
        }
    }
    let elapsed = started.elapsed();

    let per_process = 2 * GRAPHS.len() * SIZES.len() * rounds;
    assert_eq!(lines.len(), processes * per_process, "every call reported");
    // (key, guards) -> (compiles, hits)
    let mut specialisations: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for line in &lines {
        let slot = specialisations
            .entry((line.key.clone(), line.guards.clone()))
            .or_default();
        match line.outcome.as_str() {
            "miss" | "guard_miss" => slot.0 += 1,
            "hit" => slot.1 += 1,
            other => panic!(
                "{} size {}: unexpected outcome {other}",
                line.graph, line.size
            ),
        }
    }
    for ((key, guards), (compiles, _)) in &specialisations {
        assert_eq!(
            *compiles, 1,
            "key {key} guards `{guards}` was compiled {compiles} times"
        );
    }
    let compiled = specialisations.len();
    let [hits, misses, guard_misses] = lookups;
    assert_eq!(
        misses + guard_misses,
        compiled as u64,
        "no process compiled anything twice, `run` included"
    );

    let cache = kiln::Cache::open(kiln::CacheConfig {
        dir: dir.path().to_path_buf(),
        ..kiln::CacheConfig::from_env()
    })
    .expect("open the shared cache");
    let lifetime = cache.lifetime_counters().expect("lifetime counters");
    assert_eq!(
        (lifetime.hit, lifetime.miss, lifetime.guard_miss),
        (hits, misses, guard_misses),
        "the lifetime counters add up every process's lookups: {lifetime:?}"
    );
    assert_eq!(
        (
            lifetime.corrupt,
            lifetime.read_error,
            lifetime.write_error,
            lifetime.untrusted
        ),
        (0, 0, 0, 0),
        "no torn, unreadable or refused files: {lifetime:?}"
    );
    assert_eq!(
        entry_files(dir.path()).len(),
        compiled,
        "one file per specialisation"
    );
    let temps = temp_files(dir.path());
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
    let verify = cache.verify().expect("verify");
    assert!(
        verify.removed.is_empty(),
        "verify found bad entries: {:?}",
        verify.removed
    );
    assert_eq!(verify.ok, compiled as u64);
    eprintln!(
        "stress: {processes} processes x {per_process} calls ({rounds} rounds) = {} calls in \
         {:.1} s; {compiled} specialisations compiled once each, {hits} hits, 0 corrupt, 0 \
         temporary files left",
        lines.len(),
        elapsed.as_secs_f64()
    );
}
