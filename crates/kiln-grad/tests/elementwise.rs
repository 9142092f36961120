//! Elementwise rules against central differences (f64, away from kinks) and PyTorch's
//! conventions at the kinks.
mod common;
use common::*;

fn unary_graph(call: &str) -> String {
    format!("graph g\ninput x: f64[2, 3]\ny = {call}\noutput y\n")
}

#[test]
fn every_unary_op_matches_finite_differences() {
    let mut rng = Lcg(1);
    for call in [
        "neg(x)",
        "abs(x)",
        "exp(x)",
        "sin(x)",
        "cos(x)",
        "tanh(x)",
        "sigmoid(x)",
        "relu(x)",
        "silu(x)",
        "gelu(x)",
        "gelu(x, approximate=\"tanh\")",
        "reciprocal(x)",
    ] {
        check_random(&unary_graph(call), "y", &["x"], &[vec![2, 3]], &mut || {
            rng.away_from_zero()
        });
    }
    for call in ["log(x)", "sqrt(x)", "rsqrt(x)"] {
        check_random(&unary_graph(call), "y", &["x"], &[vec![2, 3]], &mut || {
            rng.positive()
        });
    }
}

#[test]
fn floor_and_ceil_have_zero_gradients() {
    let g = kiln_ir::parse(&unary_graph("floor(x)")).unwrap();
    let x = tensor(&[2, 3], &[0.5, 1.5, -2.5, 3.1, 0.0, -0.2]);
    assert_eq!(analytic(&g, "y", &["x"], &[x]), vec![vec![0.0; 6]]);
}

#[test]
fn kinks_follow_pytorch() {
    // relu'(0) = 0, abs'(0) = 0, and maximum/minimum split ties evenly.
    let x = tensor(&[3], &[0.0, -1.0, 2.0]);
    let relu = kiln_ir::parse("graph g\ninput x: f64[3]\ny = relu(x)\noutput y\n").unwrap();
    assert_eq!(
        analytic(&relu, "y", &["x"], std::slice::from_ref(&x)),
        vec![vec![0.0, 0.0, 1.0]]
    );
    let abs = kiln_ir::parse("graph g\ninput x: f64[3]\ny = abs(x)\noutput y\n").unwrap();
    assert_eq!(
        analytic(&abs, "y", &["x"], std::slice::from_ref(&x)),
        vec![vec![0.0, -1.0, 1.0]]
    );
    let text = "graph g\ninput a: f64[3]\ninput b: f64[3]\ny = maximum(a, b)\nz = minimum(a, b)\noutput y, z\n";
    let g = kiln_ir::parse(text).unwrap();
    let a = tensor(&[3], &[1.0, 2.0, 3.0]);
    let b = tensor(&[3], &[1.0, 5.0, 0.0]);
    let max = analytic(&g, "y", &["a", "b"], &[a.clone(), b.clone()]);
    assert_eq!(max, vec![vec![0.5, 0.0, 1.0], vec![0.5, 1.0, 0.0]]);
    let min = analytic(&g, "z", &["a", "b"], &[a, b]);
    assert_eq!(min, vec![vec![0.5, 1.0, 0.0], vec![0.5, 0.0, 1.0]]);
}

#[test]
fn broadcasting_binary_ops_sum_back_to_each_shape() {
    let mut rng = Lcg(2);
    for call in [
        "add(a, b)",
        "sub(a, b)",
        "mul(a, b)",
        "div(a, b)",
        "maximum(a, b)",
        "minimum(a, b)",
    ] {
        let text =
            format!("graph g\ninput a: f64[2, 1, 4]\ninput b: f64[3, 1]\ny = {call}\noutput y\n");
        check_random(
            &text,
            "y",
            &["a", "b"],
            &[vec![2, 1, 4], vec![3, 1]],
            &mut || rng.away_from_zero(),
        );
    }
}

#[test]
fn scalar_operands_and_pow() {
    let mut rng = Lcg(3);
    let text = "graph g\ninput a: f64[5]\ninput b: f64[5]\n\
                p = pow(a, b)\nq = pow(a, 3.0)\nr = pow(2.0, b)\ns = div(1.0, a)\n\
                m = mul(a, 3.0)\nt = sub(2.0, m)\nu1 = add(p, q)\nu2 = add(r, s)\n\
                u = add(u1, u2)\nv = add(u, t)\noutput v\n";
    check_random(text, "v", &["a", "b"], &[vec![5], vec![5]], &mut || {
        rng.positive()
    });
}

#[test]
fn where_routes_the_gradient_by_the_condition() {
    let mut rng = Lcg(4);
    let text = "graph g\ninput a: f64[2, 3]\ninput b: f64[3]\n\
                c = gt(a, 0.0)\nsq = mul(a, a)\ny = where(c, sq, b)\noutput y\n";
    check_random(text, "y", &["a", "b"], &[vec![2, 3], vec![3]], &mut || {
        rng.away_from_zero()
    });
}

#[test]
fn a_value_used_twice_accumulates() {
    let mut rng = Lcg(5);
    let text = "graph g\ninput x: f64[4]\na = mul(x, x)\nb = exp(x)\ny = mul(a, b)\noutput y\n";
    check_random(text, "y", &["x"], &[vec![4]], &mut || rng.away_from_zero());
}
