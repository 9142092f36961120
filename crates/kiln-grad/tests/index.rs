//! The gather ops' rules against central differences (f64): index_select, gather, scatter_add,
//! index_add with alpha, embedding with and without padding_idx; the int64 index is not
//! differentiable (a typed error when asked for).
mod common;
use common::*;
use kiln_grad::{GradSpec, grad};
use kiln_ir::Tensor;

fn ids(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64(shape, v)
}

#[test]
fn gather_family_gradients_match_finite_differences() {
    let mut rng = Lcg(7);
    let mut draw = |shape: &[usize]| {
        let n = shape.iter().product();
        tensor(shape, &values(n, || rng.next_f64()))
    };
    let src = "graph g\ninput x: f64[3, 4]\ninput i: i64[5]\ninput c: f64[3, 5]\n\
               y = index_select(x, 1, i)\nz = mul(y, c)\noutput z\n";
    let inputs = [draw(&[3, 4]), ids(&[5], &[3, 0, 3, 1, 3]), draw(&[3, 5])];
    check(src, "z", &["x", "c"], &inputs);

    let src = "graph g\ninput x: f64[3, 4]\ninput j: i64[2, 6]\ninput c: f64[2, 6]\n\
               y = gather(x, 1, j)\nz = mul(y, c)\noutput z\n";
    let j = ids(&[2, 6], &[0, 0, 3, 2, 1, 0, 3, 3, 3, 1, 2, 0]);
    check(src, "z", &["x", "c"], &[draw(&[3, 4]), j, draw(&[2, 6])]);

    let src = "graph g\ninput x: f64[3, 4]\ninput j: i64[3, 2]\ninput s: f64[3, 2]\n\
               input c: f64[3, 4]\ny = scatter_add(x, 0, j, s)\nz = mul(y, c)\noutput z\n";
    let j = ids(&[3, 2], &[2, 2, 2, 0, 1, 2]);
    check(
        src,
        "z",
        &["x", "s"],
        &[draw(&[3, 4]), j, draw(&[3, 2]), draw(&[3, 4])],
    );

    let src = "graph g\ninput x: f64[4, 3]\ninput i: i64[3]\ninput t: f64[4, 3]\n\
               input c: f64[4, 3]\ny = index_add(x, 1, i, t, alpha=-1.5)\nz = mul(y, c)\noutput z\n";
    let i = ids(&[3], &[2, 2, 0]);
    check(
        src,
        "z",
        &["x", "t"],
        &[draw(&[4, 3]), i, draw(&[4, 3]), draw(&[4, 3])],
    );
}

#[test]
fn embedding_gradient_skips_the_padding_row() {
    let src = "graph g\ninput i: i64[2, 3]\ninput w: f64[4, 2]\ninput c: f64[2, 3, 2]\n\
               y = embedding(i, w)\np = embedding(i, w, padding_idx=-1)\nz = mul(y, c)\n\
               q = mul(p, c)\noutput z, q\n";
    let i = ids(&[2, 3], &[3, 0, 3, 1, 1, 2]);
    let c: Vec<f64> = (1..=12).map(f64::from).collect();
    let inputs = [i, tensor(&[4, 2], &[0.0; 8]), tensor(&[2, 3, 2], &c)];
    check(src, "z", &["w"], &inputs);
    let g = kiln_ir::parse(src).unwrap();
    // torch: rows 0 <- c[0,1]; 1 <- c[1,0] + c[1,1]; 2 <- c[1,2]; 3 is padding_idx=-1.
    let want = vec![3.0, 4.0, 16.0, 18.0, 11.0, 12.0, 0.0, 0.0];
    assert_eq!(analytic(&g, "q", &["w"], &inputs), vec![want]);
}

#[test]
fn the_int64_index_is_not_differentiable() {
    let g = kiln_ir::parse(
        "graph g\ninput x: f64[3]\ninput i: i64[2]\ny = index_select(x, 0, i)\noutput y\n",
    )
    .unwrap();
    let e = grad(&g, &GradSpec::sum_of("y", &["i"])).unwrap_err();
    assert!(
        e.to_string()
            .contains("`i`: it is i64, and only floating-point inputs have gradients"),
        "{e}"
    );
}
