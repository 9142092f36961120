//! The seed's `test_cache_load_function`, `test_cache_load_model` and `test_cache_clear`: a
//! first compile misses and stores, a compile after `reset()` hits, and both compute what the
//! reference interpreter computes; after `clear()` the cache misses again.
mod cache_support;

use cache_support::{
    ADAPTIVE, MODEL, MUL, assert_matches_reference, compiler, data, graph, shapes_of,
};
use kiln::{CounterSnapshot, DType, DynamicPolicy, Outcome};

const POLICIES: [DynamicPolicy; 2] = [DynamicPolicy::Dynamic, DynamicPolicy::Static];

/// Miss, reset, hit: counters, reports and outputs for `src` on `inputs` (shapes per input).
fn miss_then_hit(src: &str, dtype: DType, policy: DynamicPolicy, shapes: &[&[usize]]) {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(src, dtype);
    let c = compiler(dir.path(), policy);
    let f = c.compile(&g).unwrap();
    let tensors: Vec<_> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| data(dtype, s, i as u64 + 1))
        .collect();
    let inputs: Vec<&kiln::Tensor> = tensors.iter().collect();
    let context = format!("{} {dtype} {policy:?}", g.name);

    let first = f.run(&inputs).unwrap();
    let report = f.last_report().expect("a compile happened");
    assert_eq!(
        report.outcome,
        Outcome::Miss,
        "{context}: a cold cache must miss"
    );
    assert!(
        report.key.is_some(),
        "{context}: a miss through the cache has a key"
    );
    assert_eq!(
        c.counters(),
        CounterSnapshot {
            miss: 1,
            ..CounterSnapshot::default()
        },
        "{context}"
    );
    assert_matches_reference(&g, &inputs, &first);

    f.reset();
    let second = f.run(&inputs).unwrap();
    let hit = f.last_report().expect("a compile happened");
    assert_eq!(
        hit.outcome,
        Outcome::Hit,
        "{context}: after reset the cache must hit"
    );
    assert_eq!(
        hit.key, report.key,
        "{context}: the hit is under the key of the miss"
    );
    assert_eq!(
        hit.guards, report.guards,
        "{context}: the hit serves the stored guards"
    );
    let counters = c.counters();
    assert_eq!((counters.hit, counters.miss), (1, 1), "{context}");
    assert_eq!(counters.guard_miss + counters.bypass, 0, "{context}");
    assert_eq!(
        first, second,
        "{context}: the cached code computes what the fresh code did"
    );
    let cache_counts = c.cache().unwrap().counters();
    assert_eq!((cache_counts.hit, cache_counts.miss), (1, 1), "{context}");
}

#[test]
fn load_function_every_dtype_and_policy() {
    for dtype in [DType::F32, DType::BF16, DType::F16, DType::F64] {
        for policy in POLICIES {
            miss_then_hit(MUL, dtype, policy, &[&[5, 5], &[5, 5]]);
        }
    }
}

#[test]
fn load_model_in_both_policies() {
    for dtype in [DType::F32, DType::F64] {
        for policy in POLICIES {
            miss_then_hit(MODEL, dtype, policy, &[&[2, 3, 16, 16], &[1, 3, 1, 1]]);
        }
    }
}

#[test]
fn load_pooling_graph_in_both_policies() {
    for policy in POLICIES {
        miss_then_hit(ADAPTIVE, DType::F32, policy, &[&[1, 4, 8, 9]]);
    }
}

#[test]
fn clear_makes_the_next_compile_miss() {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(MUL, DType::F32);
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&g).unwrap();
    let (a, b) = (data(DType::F32, &[5, 5], 1), data(DType::F32, &[5, 5], 2));
    let shapes = shapes_of(&[&a, &b]);

    let expected = f.run(&[&a, &b]).unwrap();
    assert_eq!(f.last_report().unwrap().outcome, Outcome::Miss);
    f.reset();
    assert_eq!(f.run(&[&a, &b]).unwrap(), expected);
    assert_eq!(f.last_report().unwrap().outcome, Outcome::Hit);

    c.cache().unwrap().clear().unwrap();
    assert!(
        cache_support::entry_files(dir.path()).is_empty(),
        "clear leaves no entry file"
    );
    f.reset();
    assert_eq!(f.prepare(&shapes).unwrap().outcome, Outcome::Miss);
    assert_eq!(f.run(&[&a, &b]).unwrap(), expected);
    let counters = c.counters();
    assert_eq!((counters.hit, counters.miss), (1, 2));

    // The recompiled entry is stored again: the next reset hits.
    f.reset();
    assert_eq!(f.prepare(&shapes).unwrap().outcome, Outcome::Hit);
}

/// A second call with the same shapes reuses the in-memory specialisation, also when its
/// guards name dims the policy fixed (`N == 5` under Static, `H == 8` from pooling).
#[test]
fn a_second_call_is_served_in_memory() {
    for (src, policy, shapes) in [
        (MUL, DynamicPolicy::Static, [5usize, 5, 0, 0]),
        (MUL, DynamicPolicy::Dynamic, [5, 5, 0, 0]),
        (ADAPTIVE, DynamicPolicy::Dynamic, [1, 4, 8, 9]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let g = graph(src, DType::F32);
        let c = compiler(dir.path(), policy);
        let f = c.compile(&g).unwrap();
        let tensors: Vec<kiln::Tensor> = if src == MUL {
            vec![
                data(DType::F32, &shapes[..2], 1),
                data(DType::F32, &shapes[..2], 2),
            ]
        } else {
            vec![data(DType::F32, &shapes, 1)]
        };
        let inputs: Vec<&kiln::Tensor> = tensors.iter().collect();
        let first = f.run(&inputs).unwrap();
        assert_eq!(f.run(&inputs).unwrap(), first);
        let counters = c.counters();
        assert_eq!(
            (counters.memory, counters.hit, counters.miss),
            (1, 0, 1),
            "{} {policy:?}: the second call reuses the in-memory code",
            g.name
        );
    }
}
