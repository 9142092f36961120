//! Reductions, layout, linear algebra and composites against central differences.
mod common;
use common::*;

fn run(inputs: &str, body: &str, wrt: &[&str], shapes: &[Vec<usize>], seed: u64) {
    let text = format!("graph g\n{inputs}\n{body}\noutput y\n");
    let mut rng = Lcg(seed);
    check_random(&text, "y", wrt, shapes, &mut || rng.away_from_zero());
}

#[test]
fn reductions() {
    let x = "input x: f64[2, 3, 4]";
    let s = [vec![2, 3, 4]];
    for body in [
        "y = sum(x)",
        "y = sum(x, dim=1)",
        "y = sum(x, dim=[0, 2], keepdim=true)",
        "y = mean(x, dim=-1)",
        "y = mean(x)",
        "y = amax(x, dim=1)",
        "y = amin(x, dim=[0, 2])",
        "y = softmax(x, dim=1)",
        "y = log_softmax(x, dim=-1)",
        "s = softmax(x, dim=2)\ny = mul(s, x)",
        "y = cumsum(x, dim=1)",
    ] {
        run(x, body, &["x"], &s, 10);
    }
}

#[test]
fn amax_splits_ties_evenly() {
    let g = kiln_ir::parse("graph g\ninput x: f64[2, 3]\ny = amax(x, dim=1)\noutput y\n").unwrap();
    let x = tensor(&[2, 3], &[1.0, 3.0, 3.0, 2.0, 2.0, 2.0]);
    let got = analytic(&g, "y", &["x"], &[x]);
    let third = 1.0 / 3.0;
    assert_eq!(got, vec![vec![0.0, 0.5, 0.5, third, third, third]]);
}

#[test]
fn layout_ops() {
    let x = "input x: f64[2, 3, 4]";
    let s = [vec![2, 3, 4]];
    for body in [
        "y = reshape(x, [6, 4])",
        "y = permute(x, [2, 0, 1])",
        "y = transpose(x, 0, 2)",
        "y = unsqueeze(x, 1)",
        "u = unsqueeze(x, 0)\ny = squeeze(u, 0)",
        "u = unsqueeze(x, 0)\ny = expand(u, [3, 2, 3, 4])",
        "y = flatten(x, start_dim=1)",
        "y = unflatten(x, 2, [2, -1])",
        "y = slice(x, dim=2, start=1, step=2)",
        "y = select(x, 1, -1)",
        "y = narrow(x, 2, 1, 2)",
        "y = pad(x, [2, 1, 0, 1], value=-1.0)",
        "y = pad(x, [-1, 2])",
        "y = pad(x, [2, 1, 1, 2], mode=\"reflect\")",
        "y = pad(x, [3, 0], mode=\"reflect\")",
        "y = pad(x, [2, 1, 0, 3], mode=\"replicate\")",
        "y = repeat(x, [2, 1, 3])",
        "y = repeat(x, [2, 2, 1, 1])",
    ] {
        run(x, body, &["x"], &s, 11);
    }
    run(
        "input x: f64[2, 6]",
        "a, b = chunk(x, 2, dim=1)\ne = exp(b)\ny = mul(a, e)",
        &["x"],
        &[vec![2, 6]],
        12,
    );
    run(
        "input x: f64[2, 3]\ninput z: f64[4, 3]",
        "zz = mul(z, z)\nc = cat([x, zz, x])\ny = mul(c, c)",
        &["x", "z"],
        &[vec![2, 3], vec![4, 3]],
        13,
    );
    run(
        "input x: f64[2, 3]\ninput z: f64[2, 3]",
        "y = stack([x, z], dim=1)",
        &["x", "z"],
        &[vec![2, 3], vec![2, 3]],
        14,
    );
}

#[test]
fn matmul_and_linear() {
    run(
        "input a: f64[3, 4]\ninput b: f64[4, 5]",
        "y = matmul(a, b)",
        &["a", "b"],
        &[vec![3, 4], vec![4, 5]],
        20,
    );
    run(
        "input a: f64[2, 1, 3, 4]\ninput b: f64[3, 4, 2]",
        "y = matmul(a, b)",
        &["a", "b"],
        &[vec![2, 1, 3, 4], vec![3, 4, 2]],
        21,
    );
    run(
        "input a: f64[4]\ninput b: f64[4, 2]",
        "y = matmul(a, b)",
        &["a", "b"],
        &[vec![4], vec![4, 2]],
        22,
    );
    run(
        "input x: f64[3, 4]\nparam w: f64[5, 4]\nparam b: f64[5]",
        "l = linear(x, w, b)\ny = gelu(l)",
        &["x", "w", "b"],
        &[vec![3, 4], vec![5, 4], vec![5]],
        23,
    );
}

#[test]
fn normalisation_composites() {
    run(
        "input x: f64[2, 3, 4]\nparam w: f64[4]\nparam b: f64[4]",
        "y = layer_norm(x, [4], w, b)",
        &["x", "w", "b"],
        &[vec![2, 3, 4], vec![4], vec![4]],
        30,
    );
    run(
        "input x: f64[2, 4, 3]\nparam w: f64[4]\nparam b: f64[4]",
        "y = group_norm(x, 2, w, b)",
        &["x", "w", "b"],
        &[vec![2, 4, 3], vec![4], vec![4]],
        31,
    );
    run(
        "input x: f64[3, 2, 2, 2]\nparam w: f64[2]\nparam b: f64[2]",
        "y, m, v = batch_norm(x, None, None, w, b, training=true)",
        &["x", "w", "b"],
        &[vec![3, 2, 2, 2], vec![2], vec![2]],
        32,
    );
}
