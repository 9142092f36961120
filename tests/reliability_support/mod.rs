//! Shared fixtures of the reliability tests: graphs with real machine code, deterministic
//! inputs, output checks against the reference interpreter, cache-directory walks, and the
//! child-process mode (the test binary re-runs itself with an environment variable set).
#![allow(
    dead_code,
    reason = "each reliability test binary uses a different subset"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln::{CompiledFunction, Graph, Tensor};
use kiln_shape::Dim;

/// Set in a child process to the name of the role it plays; unset in the parent test.
pub const CHILD_ROLE: &str = "KILN_RELIABILITY_CHILD";
/// The cache directory a child compiles into.
pub const CHILD_DIR: &str = "KILN_RELIABILITY_DIR";
/// A per-child number that varies its order and seeds.
pub const CHILD_SEED: &str = "KILN_RELIABILITY_SEED";
/// `KILN_STRESS_LONG=1`: more processes, iterations and kills, for a manual run.
pub const LONG_MODE: &str = "KILN_STRESS_LONG";

/// Three graphs of different shapes of work: a fused elementwise chain with broadcasting, a
/// softmax (reductions), and a two-input product.
pub const GRAPHS: [(&str, &str); 3] = [
    (
        "elementwise",
        "graph elementwise\ninput x: f32[N, D]\ninput z: f32[1, D]\nxy = mul(x, x)\n\
         s = add(xy, z)\nr = relu(s)\ng = sigmoid(r)\nout = sub(g, 0.5)\noutput out",
    ),
    (
        "softmax",
        "graph softmax\ninput x: f32[N, D]\ny = softmax(x, dim=-1)\noutput y",
    ),
    (
        "mul",
        "graph mul\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\nw = add(z, x)\noutput z, w",
    ),
];

pub fn graph(index: usize) -> Graph {
    let (_, src) = GRAPHS[index % GRAPHS.len()];
    kiln::parse(src).expect("fixture graphs parse")
}

pub fn long_mode() -> bool {
    std::env::var(LONG_MODE).is_ok_and(|v| v == "1")
}

/// The role this process plays, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE).ok()
}

pub fn child_dir() -> PathBuf {
    PathBuf::from(std::env::var(CHILD_DIR).expect("child mode needs KILN_RELIABILITY_DIR"))
}

pub fn child_seed() -> u64 {
    std::env::var(CHILD_SEED)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Input shapes of `graph` where the i-th symbol (in sorted order) has value `size + i`.
pub fn shapes_for(graph: &Graph, size: usize) -> Vec<Vec<usize>> {
    let mut symbols = BTreeMap::new();
    for decl in graph.inputs() {
        for dim in &decl.dims {
            if let Dim::Sym(name) = dim {
                let next = symbols.len();
                symbols.entry(name.clone()).or_insert(next);
            }
        }
    }
    graph
        .inputs()
        .iter()
        .map(|decl| {
            decl.dims
                .iter()
                .map(|dim| match dim {
                    Dim::Fixed(v) => usize::try_from(*v).expect("fixture dims are positive"),
                    Dim::Sym(name) => size + symbols[name],
                })
                .collect()
        })
        .collect()
}

/// Deterministic inputs in [-2, 2) for `graph` at `size`.
pub fn inputs_for(graph: &Graph, size: usize, seed: u64) -> Vec<Tensor> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    shapes_for(graph, size)
        .iter()
        .map(|shape| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
                })
                .collect();
            Tensor::from_f32(shape, &values)
        })
        .collect()
}

/// The shapes of `inputs` as the i64 dims `prepare` and `executable` take.
pub fn shapes_of(inputs: &[Tensor]) -> Vec<Vec<i64>> {
    inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect()
}

/// Runs `f` on `inputs` and checks every output against `kiln_ir::interpret`.
pub fn run_and_check(f: &CompiledFunction, inputs: &[Tensor], what: &str) {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = f
        .run(&refs)
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    let want = kiln_ir::interpret(f.graph(), inputs)
        .unwrap_or_else(|e| panic!("{what}: interpret failed: {e}"));
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.shape, w.shape, "{what}: output {i} shape");
        for (j, (a, b)) in g.to_f64().iter().zip(w.to_f64()).enumerate() {
            let tolerance = 1e-5 + 1e-4 * b.abs();
            assert!(
                (a - b).abs() <= tolerance,
                "{what}: output {i}[{j}] = {a}, the interpreter says {b}"
            );
        }
    }
}

/// Every file under `dir` whose name passes `keep`, recursively, sorted.
pub fn files_under(dir: &Path, keep: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if keep(&entry.file_name().to_string_lossy()) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Entry files (64-hex names) under a cache directory, once this process's queued stores are
/// on disk.
pub fn entry_files(dir: &Path) -> Vec<PathBuf> {
    kiln::flush_pending_stores();
    files_under(&dir.join("v1"), &|name| {
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Temporary files (`.tmp-*`) anywhere under a cache directory, once this process's queued
/// stores are done.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    kiln::flush_pending_stores();
    files_under(dir, &|name| name.starts_with(kiln_cache::TEMP_PREFIX))
}

/// The key directory `<dir>/v1/<aa>/<key>`.
pub fn key_dir(dir: &Path, key: &kiln::CacheKey) -> PathBuf {
    let hex = key.to_string();
    dir.join("v1").join(&hex[..2]).join(&hex)
}

/// Starts this test binary again in child mode, running only `test_name`.
pub fn spawn_child(test_name: &str, role: &str, dir: &Path, seed: u64) -> Child {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a child test process")
}

/// Waits for `child` at most until `deadline`; kills it and fails the test past that.
pub fn wait_bounded(mut child: Child, deadline: Instant, what: &str) -> Output {
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("collect child output"),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("collect child output");
                panic!(
                    "{what}: still running at its deadline (blocked?); stderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Err(e) => panic!("{what}: cannot poll the child: {e}"),
        }
    }
}

/// Fails with the child's output unless it exited successfully.
pub fn expect_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One line a child prints per specialisation it obtained from the cache path.
pub struct OutcomeLine {
    pub outcome: String,
    pub key: String,
    pub guards: String,
    pub graph: String,
    pub size: usize,
}

pub const OUTCOME_TAG: &str = "KILN-OUTCOME";

pub fn print_outcome(report: &kiln::CompileReport, graph: &str, size: usize) {
    let key = report.key.map(|k| k.to_string()).unwrap_or_default();
    println!(
        "{OUTCOME_TAG}\t{}\t{key}\t{graph}\t{size}\t{}",
        report.outcome.name(),
        report.guards
    );
}

pub fn parse_outcomes(stdout: &[u8]) -> Vec<OutcomeLine> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.strip_prefix(OUTCOME_TAG)?.trim_start().split('\t');
            let outcome = fields.next()?.to_string();
            let key = fields.next()?.to_string();
            let graph = fields.next()?.to_string();
            let size = fields.next()?.parse().ok()?;
            let guards = fields.next().unwrap_or("").to_string();
            Some(OutcomeLine {
                outcome,
                key,
                guards,
                graph,
                size,
            })
        })
        .collect()
}

/// A small deterministic generator (xorshift) for delays and orders.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// A seed from the clock, printed by callers so that a failure can be replayed.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1
}
