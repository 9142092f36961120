//! Property test: the joint graph of a random differentiable graph (up to 8 ops: smooth
//! elementwise math, broadcasting binaries, reductions, softmax, layout ops, matmul, pooling; see
//! `common/random_graph.rs`) gives the gradients of `sum(output)` that central differences
//! give, on the reference interpreter in f64 with inputs away from 0.
mod common;
#[path = "common/random_graph.rs"]
mod random_graph;

use common::*;
use proptest::prelude::*;
use random_graph::random_graph;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_central_differences(
        choices in proptest::collection::vec(any::<u32>(), 2..=9),
        seed in any::<u64>(),
    ) {
        let g = random_graph(&choices, "f64");
        let mut rng = Lcg(seed);
        let inputs = random_inputs(&g.shapes(), &mut || rng.away_from_zero());
        check(&g.text, &g.output, &g.input_names(), &inputs);
    }
}

/// The generator reaches every op family it claims (a proptest over a generator that only
/// ever built tanh would pass).
#[test]
fn the_generator_covers_its_op_families() {
    let mut seen = std::collections::BTreeSet::new();
    let mut rng = Lcg(7);
    for _ in 0..400 {
        let choices: Vec<u32> = (0..9)
            .map(|_| (rng.next_f64() * 4294967296.0) as u32)
            .collect();
        let g = random_graph(&choices, "f64");
        kiln_ir::parse(&g.text).unwrap_or_else(|e| panic!("{e}\n{}", g.text));
        for op in [
            "exp(",
            "add(",
            "mul(",
            "div(",
            "sum(",
            "mean(",
            "amax(",
            "amin(",
            "softmax(",
            "log_softmax(",
            "transpose(",
            "expand(",
            "reshape(",
            "slice(",
            "cat(",
            "pad(",
            "matmul(",
            "maximum(",
            "max_pool2d(",
            "avg_pool2d(",
            "adaptive_avg_pool2d(",
        ] {
            if g.text.contains(&format!(" = {op}")) {
                seen.insert(op);
            }
        }
    }
    assert_eq!(seen.len(), 21, "{seen:?}");
}
