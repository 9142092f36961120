//! The stable replay of the cargo-fuzz target `cache_tree` (fuzz/, needs nightly): the same
//! harness, on every single-step mutation of every path (each op, two arguments) and on
//! random multi-step inputs from proptest. `KILN_STRESS_LONG=1` runs many more random cases.
//! See doc/FUZZING.md.
#[path = "../../../fuzz/harness/cache_tree.rs"]
mod cache_tree;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Every op on every target index (the harness takes the index modulo its path count, so
/// 0..32 covers the ~26 it has), with two arguments each.
#[test]
fn every_single_step_mutation_is_survived() {
    for op in 0..8u8 {
        for which in 0..32u8 {
            for arg in 0..2u8 {
                cache_tree::run(&[op, which, arg]);
            }
        }
    }
}

#[test]
fn random_mutation_sequences_are_survived() {
    let cases = if std::env::var_os("KILN_STRESS_LONG").is_some() {
        5_000
    } else {
        150
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..36), |data| {
            cache_tree::run(&data);
            Ok(())
        })
        .unwrap();
}

/// Inputs proptest found, kept as regressions (the first one caught the harness itself
/// chmod-ing through a link it had planted).
#[test]
fn found_inputs_stay_survived() {
    cache_tree::run(&[0u8, 24, 0, 0, 1, 0, 56, 68, 21, 0, 1, 0, 114, 68]);
}
