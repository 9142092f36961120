//! Processes killed (SIGKILL) at random points while they compile into the cache: inside the
//! lock, the lookup, code generation, the temp-file write or the publish. After each round of
//! kills a fresh process must finish within a deadline (a dead holder's lock is released by
//! the kernel), must never load a partial entry (no `corrupt` count, outputs equal to the
//! interpreter's), and temporary files of dead writers older than TEMP_MAX_AGE are removed by
//! the next writer of their key directory (younger ones, possibly a live writer's, are kept).
//! `KILN_STRESS_LONG=1` runs many more rounds.
mod reliability_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use kiln::{CompileOptions, Compiler, DynamicPolicy, Outcome};
use reliability_support::*;

const VICTIM: &str = "kill-victim";
const VERIFIER: &str = "kill-verifier";
/// Sizes the verifier compiles; victims compile these and more.
const VERIFIED_SIZES: [usize; 4] = [2, 3, 5, 8];

/// Compiles every graph at ever new static shapes until killed (or at 300 sizes), so that a
/// kill lands in any phase of the cache path.
#[test]
fn child_kill_victim() {
    if child_role().as_deref() != Some(VICTIM) {
        return;
    }
    let seed = child_seed();
    let compiler = Compiler::new(
        CompileOptions::default()
            .cache_dir(child_dir())
            .dynamic(DynamicPolicy::Static),
    );
    let functions: Vec<_> = (0..GRAPHS.len())
        .map(|i| compiler.compile(&graph(i)).expect("compile"))
        .collect();
    let mut rng = Rng(seed | 1);
    for step in 0..300 {
        // Half the time a shape the verifier will need, so that victims and verifiers race
        // for the same keys; otherwise a new one.
        let size = if rng.below(2) == 0 {
            VERIFIED_SIZES[rng.below(VERIFIED_SIZES.len() as u64) as usize]
        } else {
            10 + step
        };
        let f = &functions[rng.below(functions.len() as u64) as usize];
        let inputs = inputs_for(f.graph(), size, seed);
        f.reset();
        run_and_check(f, &inputs, &format!("victim size {size}"));
    }
}

/// Compiles the verified shapes (through the cache) and checks them; prints its outcomes.
#[test]
fn child_kill_verifier() {
    if child_role().as_deref() != Some(VERIFIER) {
        return;
    }
    let compiler = Compiler::new(
        CompileOptions::default()
            .cache_dir(child_dir())
            .dynamic(DynamicPolicy::Static),
    );
    for (index, (graph_name, _)) in GRAPHS.iter().enumerate() {
        let f = compiler.compile(&graph(index)).expect("compile");
        for size in VERIFIED_SIZES {
            let inputs = inputs_for(f.graph(), size, 99);
            let shapes = shapes_of(&inputs);
            f.reset();
            let report = f.prepare(&shapes).expect("prepare");
            print_outcome(&report, graph_name, size);
            run_and_check(&f, &inputs, &format!("verifier {} size {size}", graph_name));
        }
    }
    let counters = compiler.cache().expect("cache in use").counters();
    assert_eq!(
        (counters.corrupt, counters.read_error, counters.untrusted),
        (0, 0, 0),
        "no partial or unreadable entry after kills: {counters:?}"
    );
}

fn set_age(path: &Path, age: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open a temp file");
    file.set_modified(SystemTime::now() - age)
        .expect("set its modification time");
}

#[test]
fn killed_writers_never_block_or_damage_the_cache() {
    if child_role().is_some() {
        return;
    }
    let (rounds, victims_per_round) = if long_mode() { (40, 4) } else { (4, 2) };
    let seed = clock_seed();
    eprintln!("kill test seed {seed} (rounds {rounds}, victims per round {victims_per_round})");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (mut kills, mut exited, mut verifier_runs) = (0, 0, 0);
    // Temp files seen right after kills (distinct paths).
    let mut leftover_temps = std::collections::BTreeSet::new();
    let mut outcomes = [0usize; 3];
    for round in 0..rounds {
        let victims: Vec<_> = (0..victims_per_round)
            .map(|v| spawn_child("child_kill_victim", VICTIM, dir.path(), rng.next() ^ v))
            .collect();
        for mut victim in victims {
            std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
            match victim.try_wait().expect("poll a victim") {
                Some(status) => {
                    // Finished its 300 sizes before the kill came: it must have succeeded.
                    assert!(status.success(), "victim failed on its own: {status}");
                    exited += 1;
                }
                None => {
                    victim.kill().expect("SIGKILL a victim");
                    kills += 1;
                }
            }
            let _ = victim.wait();
        }
        leftover_temps.extend(temp_files(dir.path()));
        // A fresh process after the kills: bounded in time, never served a partial entry.
        let verifier = spawn_child("child_kill_verifier", VERIFIER, dir.path(), round);
        let output = wait_bounded(
            verifier,
            Instant::now() + Duration::from_secs(90),
            &format!("verifier after round {round}"),
        );
        expect_success(&output, &format!("verifier after round {round}"));
        verifier_runs += 1;
        for line in parse_outcomes(&output.stdout) {
            let slot = match line.outcome.as_str() {
                "hit" => 0,
                "miss" => 1,
                _ => 2,
            };
            outcomes[slot] += 1;
        }
    }
    let verify = kiln::Cache::open(kiln::CacheConfig {
        dir: dir.path().to_path_buf(),
        ..kiln::CacheConfig::from_env()
    })
    .expect("open")
    .verify()
    .expect("verify");
    assert!(
        verify.removed.is_empty(),
        "entries damaged by kills: {:?}",
        verify.removed
    );
    eprintln!(
        "kill: {rounds} rounds, {} victim processes ({kills} SIGKILLed, {exited} finished \
         first), {verifier_runs} verifier processes (outcomes: {} hit, {} miss, {} other), \
         temp files seen right after kills: {} of entry writes, {} of counter merges; {} \
         entries verified intact; {:.1} s",
        rounds * victims_per_round,
        outcomes[0],
        outcomes[1],
        outcomes[2],
        leftover_temps
            .iter()
            .filter(|p| !file_name_of(p).starts_with(".tmp-stats-"))
            .count(),
        leftover_temps
            .iter()
            .filter(|p| file_name_of(p).starts_with(".tmp-stats-"))
            .count(),
        verify.ok,
        started.elapsed().as_secs_f64()
    );
    assert!(kills > 0, "at least one victim was killed mid-run");
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The key directory of `graph(0)` at `size` (static), found by compiling it once.
fn key_dir_of(dir: &Path, size: usize) -> (PathBuf, kiln::CacheKey) {
    let compiler = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir)
            .dynamic(DynamicPolicy::Static),
    );
    let f = compiler.compile(&graph(0)).expect("compile");
    let inputs = inputs_for(f.graph(), size, 5);
    run_and_check(&f, &inputs, "seed compile");
    let key = f.last_report().and_then(|r| r.key).expect("key");
    (key_dir(dir, &key), key)
}

#[test]
fn dead_writers_temp_files_are_removed_by_the_next_writer() {
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (key_dir, _) = key_dir_of(dir.path(), 6);
    // What a writer killed mid-write leaves: a partial temp file. One old enough to be dead,
    // one young enough to belong to a live writer.
    let dead = key_dir.join(format!("{}4242-00000000deadbeef", kiln_cache::TEMP_PREFIX));
    let live = key_dir.join(format!("{}4243-00000000cafef00d", kiln_cache::TEMP_PREFIX));
    std::fs::write(&dead, b"KILNCENT\x01\x00\x00\x00\x00partial").expect("plant");
    std::fs::write(&live, b"KILNCENT\x01\x00").expect("plant");
    set_age(&dead, kiln_cache::TEMP_MAX_AGE + Duration::from_secs(60));
    set_age(&live, kiln_cache::TEMP_MAX_AGE / 2);
    // Readers ignore temp files; the entry still hits.
    let compiler = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .dynamic(DynamicPolicy::Static),
    );
    let f = compiler.compile(&graph(0)).expect("compile");
    let inputs = inputs_for(f.graph(), 6, 5);
    let shapes = shapes_of(&inputs);
    assert_eq!(f.prepare(&shapes).expect("prepare").outcome, Outcome::Hit);
    assert!(dead.exists() && live.exists(), "a reader removes nothing");
    // The next writer of this key directory (its entry gone, so it recompiles and stores).
    for entry in entry_files(dir.path()) {
        std::fs::remove_file(entry).expect("remove the entry");
    }
    f.reset();
    assert_eq!(f.prepare(&shapes).expect("prepare").outcome, Outcome::Miss);
    run_and_check(&f, &inputs, "after the writer");
    kiln::flush_pending_stores();
    assert!(!dead.exists(), "the dead writer's temp file is removed");
    assert!(live.exists(), "a possibly live writer's temp file is kept");
    // An eviction pass (prune) sweeps every key directory the same way.
    set_age(&live, kiln_cache::TEMP_MAX_AGE + Duration::from_secs(1));
    let report = compiler
        .cache()
        .expect("cache")
        .prune(u64::MAX)
        .expect("prune");
    assert_eq!(report.temp_files_removed, 1);
    assert!(temp_files(dir.path()).is_empty());
}
