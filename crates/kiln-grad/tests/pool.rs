//! Pooling rules (max, avg with its options, adaptive avg and max) against central
//! differences in f64, with a non-uniform cotangent (the pooled values are squared), and the
//! backward graphs' shape: one pool backward primitive per pooling op.
mod common;
use common::*;

fn pool_graph(x_dims: &str, call: &str) -> String {
    format!("graph g\ninput x: f64[{x_dims}]\ny = {call}\nz = mul(y, y)\noutput z\n")
}

#[test]
fn every_pooling_op_matches_finite_differences() {
    let mut rng = Lcg(41);
    let batched = [
        "max_pool2d(x, 3, stride=2)",
        "max_pool2d(x, [3, 2], stride=[2, 1], padding=1, dilation=[2, 1])",
        "max_pool2d(x, 3, stride=2, padding=1, ceil_mode=true)",
        "avg_pool2d(x, 3, stride=2)",
        "avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=true)",
        "avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)",
        "avg_pool2d(x, [2, 3], stride=[1, 2], padding=[1, 1], divisor_override=4)",
        "adaptive_avg_pool2d(x, [3, 2])",
        "adaptive_max_pool2d(x, [3, 2])",
        "adaptive_avg_pool2d(x, [9, 4])",
    ];
    for call in batched {
        // Distinct values (a random draw) keep the max pools away from ties, where the
        // gradient is not differentiable.
        check_random(
            &pool_graph("2, 2, 7, 6", call),
            "z",
            &["x"],
            &[vec![2, 2, 7, 6]],
            &mut || rng.away_from_zero(),
        );
    }
    check_random(
        &pool_graph("3, 5, 4", "max_pool2d(x, 2, stride=1)"),
        "z",
        &["x"],
        &[vec![3, 5, 4]],
        &mut || rng.away_from_zero(),
    );
}

#[test]
fn max_pool_ties_go_to_the_first_maximum_only() {
    // A constant plane: every window's gradient goes to its first (top-left) element, as
    // PyTorch's indices do, so overlapping windows accumulate there.
    let text = "graph g\ninput x: f64[1, 1, 3, 3]\ny = max_pool2d(x, 2, stride=1)\noutput y\n";
    let g = kiln_ir::parse(text).unwrap();
    let x = tensor(&[1, 1, 3, 3], &[1.0; 9]);
    let got = analytic(&g, "y", &["x"], &[x]);
    assert_eq!(got, vec![vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]);
}

#[test]
fn the_backward_of_a_pool_is_one_primitive() {
    let g = kiln_ir::parse(&pool_graph("N, C, H, W", "max_pool2d(x, 3, stride=2)")).unwrap();
    let joint = kiln_grad::grad(&g, &kiln_grad::GradSpec::sum_of("z", &["x"])).unwrap();
    let text = kiln_ir::print(&joint);
    assert_eq!(
        text.matches("max_pool2d_backward(").count(),
        1,
        "one backward primitive:\n{text}"
    );
    assert!(
        text.contains("stride=[2, 2]") || text.contains("stride=2"),
        "{text}"
    );
}

#[test]
fn the_partitioned_backward_runs_the_pool_backward_on_saved_values() {
    let text = "graph g\ninput x: f64[N, C, H, W]\nr = relu(x)\n\
                m = max_pool2d(r, 3, stride=2, padding=1)\na = adaptive_avg_pool2d(m, [2, 2])\n\
                z = mul(a, a)\noutput z\n";
    let g = kiln_ir::parse(text).unwrap();
    let spec = kiln_grad::GradSpec::sum_of("z", &["x"]);
    let p = kiln_grad::partition(&g, &spec, &[vec![2, 3, 9, 8]]).expect("partitions");
    let bwd = kiln_ir::print(&p.backward);
    for op in ["max_pool2d_backward(", "adaptive_avg_pool2d_backward("] {
        assert!(bwd.contains(op), "{op} in the backward:\n{bwd}");
    }
    // The backward's gradient equals the joint graph's.
    let mut rng = Lcg(43);
    let x = tensor(
        &[2, 3, 9, 8],
        &values(2 * 3 * 9 * 8, || rng.away_from_zero()),
    );
    let joint = analytic(&g, "z", &["x"], std::slice::from_ref(&x));
    let fwd = kiln_ir::interpret(&p.forward, std::slice::from_ref(&x)).expect("forward runs");
    let by_name = |name: &str| -> kiln_ir::Tensor {
        if name == "x" {
            return x.clone();
        }
        let i = p
            .forward
            .output_names()
            .iter()
            .position(|n| *n == name)
            .expect("saved");
        fwd[i].clone()
    };
    let ins: Vec<kiln_ir::Tensor> = p
        .backward
        .inputs()
        .iter()
        .map(|d| by_name(&d.name))
        .collect();
    let out = kiln_ir::interpret(&p.backward, &ins).expect("backward runs");
    assert_eq!(out[0].to_f64(), joint[0]);
}
