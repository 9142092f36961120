//! Two machines (two processes, two cache directories) share one Redis through the driver:
//! the first compiles, the second loads the first's code from Redis, then from its own disk,
//! and all three runs give identical outputs. The child processes get `KILN_REMOTE_CACHE` in
//! their environment; this process's environment is never changed.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kiln::{CompileOptions, Compiler, Tensor};

#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

const SKIPPED: &str = "no Redis server (set KILN_TEST_REDIS)";
const CHILD: &str = "child_compiles_and_runs_once";
const GRAPH: &str = "\
graph shared
input x: f32[N, C]
y = mul(x, x)
z = relu(y)
output z
";

fn test_redis() -> Option<String> {
    let url = std::env::var("KILN_TEST_REDIS")
        .ok()
        .filter(|u| !u.is_empty());
    let reachable = url.as_deref().is_some_and(|url| {
        let host = url.trim_start_matches("redis://");
        let host = host.split('/').next().unwrap_or_default();
        host.parse()
            .ok()
            .and_then(|addr| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
            })
            .is_some()
    });
    if !reachable {
        skip_support::skip(SKIPPED);
        return None;
    }
    url
}

/// What one child run printed: `outcome=Hit remote_hit=1 output=...`.
#[derive(Debug)]
struct ChildRun {
    outcome: String,
    remote_hit: u64,
    output: String,
}

fn run_child(dir: &Path, url: &str, prefix: &str) -> ChildRun {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            CHILD,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KILN_CACHE_DIR", dir)
        .env("KILN_REMOTE_CACHE", url)
        .env("KILN_REMOTE_PREFIX", prefix)
        .env_remove("KILN_CACHE_SECRET")
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints "test <name> ... " on the same line before the child's output.
    let line = stdout
        .lines()
        .find_map(|l| l.find("outcome=").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no result line in {stdout}"));
    let field = |name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_string()
    };
    ChildRun {
        outcome: field("outcome="),
        remote_hit: field("remote_hit=").parse().expect("a count"),
        output: field("output="),
    }
}

/// Entry files (name, bytes) under a cache directory.
fn entry_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(path: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && name != "locks" {
                walk(&path, found);
            } else if name.len() == 64 {
                found.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&dir.join("v1"), &mut paths);
    let mut files: Vec<_> = paths
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn two_processes_share_compiled_code_through_redis() {
    let Some(url) = test_redis() else { return };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let prefix = format!("kiln-test:driver:{}:{nanos}:", std::process::id());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let first = run_child(dir_a.path(), &url, &prefix);
    assert_eq!((first.outcome.as_str(), first.remote_hit), ("Miss", 0));
    let remote = run_child(dir_b.path(), &url, &prefix);
    assert_eq!((remote.outcome.as_str(), remote.remote_hit), ("Hit", 1));
    let local = run_child(dir_b.path(), &url, &prefix);
    assert_eq!((local.outcome.as_str(), local.remote_hit), ("Hit", 0));
    assert_eq!(first.output, remote.output);
    assert_eq!(first.output, local.output);

    let (files_a, files_b) = (entry_files(dir_a.path()), entry_files(dir_b.path()));
    assert_eq!(files_a.len(), 1);
    assert_eq!(
        files_a, files_b,
        "machine B holds machine A's entry byte for byte"
    );
}

/// One machine's compile; run by the test above in a child process with its environment.
#[test]
#[ignore = "run as a child process by two_processes_share_compiled_code_through_redis"]
fn child_compiles_and_runs_once() {
    let compiler = Compiler::new(CompileOptions::default());
    let f = compiler.compile(&kiln::parse(GRAPH).unwrap()).unwrap();
    let report = f.prepare(&[vec![3, 5]]).unwrap();
    let values: Vec<f32> = (0..15).map(|i| i as f32 * 0.25 - 1.5).collect();
    let x = Tensor::from_f32(&[3, 5], &values);
    let outputs = f.run(&[&x]).unwrap();
    let output: Vec<String> = outputs[0].to_f32().iter().map(|v| v.to_string()).collect();
    let remote_hit = compiler.cache().map_or(0, |c| c.counters().remote_hit);
    println!(
        "outcome={:?} remote_hit={remote_hit} output={}",
        report.outcome,
        output.join(",")
    );
}
