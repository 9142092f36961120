//! The seed's guard tests: shapes that cross the int32 indexing limit, and pooling that
//! specialises H and W, add guards that later shapes violate. Without a reset each new shape
//! misses (a new key, or the same key with a new entry); after a reset each hits. Also the
//! Auto policy (PyTorch's automatic dynamic shapes).
mod cache_support;

use cache_support::{ADAPTIVE, ADD2, MUL, compiler, data, graph, shapes_of};
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Outcome};

/// The seed's loop: for each shape set, a compile without reset misses (miss or guard_miss,
/// never a hit), then a compile after reset hits, and both compute the same.
fn miss_then_hit_per_shape(f: &kiln::CompiledFunction, c: &Compiler, inputs: &[Vec<kiln::Tensor>]) {
    for (step, tensors) in inputs.iter().enumerate() {
        let refs: Vec<&kiln::Tensor> = tensors.iter().collect();
        let before = c.counters();
        let first = f.run(&refs).unwrap();
        let after = c.counters();
        let outcome = f.last_report().unwrap().outcome;
        assert!(
            matches!(outcome, Outcome::Miss | Outcome::GuardMiss),
            "step {step}: a shape violating the stored guards must compile, got {outcome:?}"
        );
        assert_eq!(after.hit, before.hit, "step {step}: no hit without reset");
        assert_eq!(
            after.miss + after.guard_miss,
            before.miss + before.guard_miss + 1,
            "step {step}"
        );
        if step > 0 {
            assert_eq!(
                outcome,
                Outcome::GuardMiss,
                "step {step}: same key, a new entry for the new guards"
            );
        }

        f.reset();
        let second = f.run(&refs).unwrap();
        assert_eq!(
            f.last_report().unwrap().outcome,
            Outcome::Hit,
            "step {step}"
        );
        assert_eq!(c.counters().hit, after.hit + 1, "step {step}");
        assert_eq!(
            first, second,
            "step {step}: the hit computes what the miss did"
        );
        cache_support::assert_matches_reference(f.graph(), &refs, &second);
    }
}

fn add2_inputs(dtype: DType, pairs: &[([usize; 2], [usize; 2])]) -> Vec<Vec<kiln::Tensor>> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b))| vec![data(dtype, a, i as u64), data(dtype, b, i as u64 + 100)])
        .collect()
}

#[test]
fn guards_int32_bounds_with_a_lowered_limit() {
    // 40 x 41 = 1640 elements crosses the lowered limit of 1000 as 47000 x 47001 crosses 2^31.
    let dir = tempfile::tempdir().unwrap();
    let c = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .dynamic(DynamicPolicy::Dynamic)
            .index_limit(1000),
    );
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        c.cache().unwrap().clear().unwrap();
        let f = c.compile(&graph(ADD2, dtype)).unwrap();
        let inputs = add2_inputs(
            dtype,
            &[([5, 6], [7, 8]), ([5, 6], [40, 41]), ([40, 41], [5, 6])],
        );
        miss_then_hit_per_shape(&f, &c, &inputs);
        let report = f.last_report().unwrap();
        assert!(
            report.guards.contains("1000"),
            "{dtype}: the guards mention the index limit: {}",
            report.guards
        );
    }
}

/// The seed's sizes: two 47000 x 47001 f16 tensors (4.4 GB each) and their outputs.
#[test]
#[ignore = "needs about 18 GB of memory and minutes of run time"]
fn guards_int32_bounds_original_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&graph(ADD2, DType::F16)).unwrap();
    let inputs = add2_inputs(
        DType::F16,
        &[
            ([5, 6], [7, 8]),
            ([5, 6], [47000, 47001]),
            ([47000, 47001], [5, 6]),
        ],
    );
    for (step, tensors) in inputs.iter().enumerate() {
        let refs: Vec<&kiln::Tensor> = tensors.iter().collect();
        let first = f.run(&refs).unwrap();
        let outcome = f.last_report().unwrap().outcome;
        assert!(
            matches!(outcome, Outcome::Miss | Outcome::GuardMiss),
            "step {step}"
        );
        f.reset();
        let second = f.run(&refs).unwrap();
        assert_eq!(
            f.last_report().unwrap().outcome,
            Outcome::Hit,
            "step {step}"
        );
        assert_eq!(first, second, "step {step}");
    }
}

#[test]
fn guards_static_bounds_of_adaptive_pooling() {
    for dtype in [DType::F32, DType::BF16] {
        let dir = tempfile::tempdir().unwrap();
        let c = compiler(dir.path(), DynamicPolicy::Dynamic);
        let f = c.compile(&graph(ADAPTIVE, dtype)).unwrap();
        let inputs: Vec<Vec<kiln::Tensor>> = [[1, 64, 8, 9], [1, 64, 9, 10], [1, 64, 10, 11]]
            .iter()
            .enumerate()
            .map(|(i, s)| vec![data(dtype, s, i as u64)])
            .collect();
        miss_then_hit_per_shape(&f, &c, &inputs);
        let report = f.last_report().unwrap();
        assert!(
            report.guards.contains("H") && report.guards.contains("10"),
            "{dtype}: pooling guards H to its value: {}",
            report.guards
        );
        // One key, three entries (one per guard set).
        let entries = cache_support::entry_files(dir.path());
        assert_eq!(entries.len(), 3, "{dtype}: {entries:?}");
        let keys: std::collections::BTreeSet<_> =
            entries.iter().filter_map(|p| p.parent()).collect();
        assert_eq!(keys.len(), 1, "{dtype}: all shapes share one key");
    }
}

#[test]
fn auto_policy_makes_a_changing_symbol_dynamic() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiler(dir.path(), DynamicPolicy::Auto);
    let g = graph(MUL, DType::F32);
    let f = c.compile(&g).unwrap();
    let run = |n: usize| {
        let (x, y) = (data(DType::F32, &[n, 3], 1), data(DType::F32, &[n, 3], 2));
        let out = f.run(&[&x, &y]).unwrap();
        cache_support::assert_matches_reference(&g, &[&x, &y], &out);
        shapes_of(&[&x, &y])
    };

    run(5);
    let first = f.last_report().unwrap();
    assert_eq!(first.outcome, Outcome::Miss);
    let inputs_of = |r: &kiln::CompileReport| {
        r.components
            .iter()
            .find(|c| c.name == "inputs")
            .map(|c| c.value.clone())
            .unwrap()
    };
    assert!(
        inputs_of(&first).contains("[5, 3]"),
        "the first call specialises N: {}",
        inputs_of(&first)
    );

    run(7);
    let second = f.last_report().unwrap();
    assert_eq!(second.outcome, Outcome::Miss, "a dynamic N is a new key");
    assert_ne!(second.key, first.key);
    assert!(
        inputs_of(&second).contains("[N, 3]"),
        "N became symbolic: {}",
        inputs_of(&second)
    );

    let before = c.counters();
    let shapes = run(11);
    let after = c.counters();
    assert_eq!(
        after.memory,
        before.memory + 1,
        "N = 11 is served in memory"
    );
    assert_eq!((after.miss, after.hit), (before.miss, before.hit));

    // A new process state (reset) that sees N change again finds the dynamic entry on disk.
    f.reset();
    assert_eq!(
        f.prepare(&shapes).unwrap().outcome,
        Outcome::Miss,
        "static N = 11 is new"
    );
    let dynamic = f.prepare(&[vec![13, 3], vec![13, 3]]).unwrap();
    assert_eq!(dynamic.outcome, Outcome::Hit);
    assert_eq!(dynamic.key, second.key);
}
