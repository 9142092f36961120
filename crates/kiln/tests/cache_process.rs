//! Entries written by one process serve another: a fresh process hits what this one stored,
//! and a dynamic entry serves other shapes of its guard class there too.
//!
//! Each test spawns this test binary again, running the same test in child mode (selected by
//! `KILN_TEST_CHILD_DIR`): the child compiles through the given cache directory and prints its
//! outcome as one JSON line.
mod cache_support;

use std::path::Path;
use std::process::Command;

use cache_support::{ADD2, MUL, assert_matches_reference, compiler, data, graph};
use kiln::{DType, DynamicPolicy, Outcome};

const CHILD_DIR: &str = "KILN_TEST_CHILD_DIR";
const CHILD_SHAPE: &str = "KILN_TEST_CHILD_SHAPE";

/// Compiles `src` for inputs of `shapes` through `dir`; returns the outcome's name.
fn compile_and_check(
    dir: &Path,
    src: &str,
    policy: DynamicPolicy,
    shapes: &[Vec<usize>],
) -> String {
    let g = graph(src, DType::F32);
    let c = compiler(dir, policy);
    let f = c.compile(&g).unwrap();
    let tensors: Vec<kiln::Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| data(DType::F32, s, i as u64 + 7))
        .collect();
    let inputs: Vec<&kiln::Tensor> = tensors.iter().collect();
    let out = f.run(&inputs).unwrap();
    assert_matches_reference(&g, &inputs, &out);
    f.last_report().unwrap().outcome.name().to_string()
}

/// Runs `test` in a child process on `dir` with `shape` (a list of comma-separated dims per
/// input, `;`-separated); returns the outcome the child printed.
fn outcome_in_child(test: &str, dir: &Path, shape: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_SHAPE, shape)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The test harness prints its own text on the same line before ours.
    let line = stdout
        .lines()
        .find_map(|l| l.find("{\"child_outcome\"").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("the child printed no outcome:\n{stdout}"));
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["child_outcome"].as_str().unwrap().to_string()
}

/// In child mode: the child's shapes and cache directory.
fn child_mode() -> Option<(std::path::PathBuf, Vec<Vec<usize>>)> {
    let dir = std::env::var_os(CHILD_DIR)?;
    let text = std::env::var(CHILD_SHAPE).unwrap();
    let shapes = text
        .split(';')
        .map(|s| s.split(',').map(|d| d.trim().parse().unwrap()).collect())
        .collect();
    Some((dir.into(), shapes))
}

fn report_child(outcome: &str) {
    println!("{}", serde_json::json!({ "child_outcome": outcome }));
}

#[test]
fn a_child_process_hits_what_the_parent_stored() {
    if let Some((dir, shapes)) = child_mode() {
        report_child(&compile_and_check(
            &dir,
            MUL,
            DynamicPolicy::Static,
            &shapes,
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shapes = vec![vec![5, 5], vec![5, 5]];
    let parent = compile_and_check(dir.path(), MUL, DynamicPolicy::Static, &shapes);
    assert_eq!(parent, Outcome::Miss.name());
    let test = "a_child_process_hits_what_the_parent_stored";
    assert_eq!(outcome_in_child(test, dir.path(), "5,5;5,5"), "hit");
    // Another static shape is another key: the child misses (and the test can fail).
    assert_eq!(outcome_in_child(test, dir.path(), "6,5;6,5"), "miss");
}

#[test]
fn a_dynamic_entry_serves_other_shapes_in_a_fresh_process() {
    if let Some((dir, shapes)) = child_mode() {
        report_child(&compile_and_check(
            &dir,
            ADD2,
            DynamicPolicy::Dynamic,
            &shapes,
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shapes = vec![vec![5, 6], vec![7, 8]];
    let parent = compile_and_check(dir.path(), ADD2, DynamicPolicy::Dynamic, &shapes);
    assert_eq!(parent, Outcome::Miss.name());
    let test = "a_dynamic_entry_serves_other_shapes_in_a_fresh_process";
    for other in ["9,10;11,12", "64,3;2,300", "5,6;7,8"] {
        assert_eq!(
            outcome_in_child(test, dir.path(), other),
            "hit",
            "shapes {other}"
        );
    }
    // A size of 1 is specialised (another key), as in PyTorch.
    assert_eq!(outcome_in_child(test, dir.path(), "1,6;7,8"), "miss");
}
