//! argmax/argmin and max/min with a dim on the CPU backend, against the interpreter and by
//! hand: first occurrence of the extreme, NaN as the extreme, flattened and keepdim forms.
mod common;

use common::{check, check_with, compile, parse, tensor};
use kiln_ir::{DType, Tensor};
use kiln_shape::Policy;

fn run(src: &str, inputs: &[Tensor]) -> Vec<Tensor> {
    let g = parse(src);
    let (compiled, _) = compile(&g, inputs, &Policy::Static);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    compiled.run(&refs).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn argmax_argmin_pick_the_first_extreme_and_nan() {
    let src = "graph g\ninput x: f32[2, 3]\na = argmax(x)\nb = argmax(x, 1)\nc = argmin(x, 1)\n\
               d = argmax(x, dim=0, keepdim=true)\ne = argmin(x, keepdim=true)\n\
               output a, b, c, d, e\n";
    let nan = f32::NAN;
    let x = Tensor::from_f32(&[2, 3], &[1.0, 3.0, 3.0, nan, 2.0, nan]);
    let out = run(src, std::slice::from_ref(&x));
    // torch: argmax(x) = 3, argmax(x, 1) = [1, 0], argmin(x, 1) = [0, 0],
    // argmax(x, 0, keepdim) = [[1, 0, 1]], argmin(x, keepdim) = [[3]].
    let want: [(&[usize], &[i64]); 5] = [
        (&[], &[3]),
        (&[2], &[1, 0]),
        (&[2], &[0, 0]),
        (&[1, 3], &[1, 0, 1]),
        (&[1, 1], &[3]),
    ];
    for (t, (shape, values)) in out.iter().zip(want) {
        assert_eq!(t.dtype, DType::I64);
        assert_eq!(t.shape, shape);
        assert_eq!(t.to_i64().unwrap(), values);
    }
    check(src, &[x]);
}

#[test]
fn max_and_min_with_a_dim_return_values_and_indices() {
    let src = "graph g\ninput x: f64[N, C, 5]\nv, i = max(x, 2)\nw, j = min(x, dim=1, keepdim=true)\n\
               m = max(x)\nn = min(x)\noutput v, i, w, j, m, n\n";
    let x = tensor(DType::F64, &[3, 4, 5], 7, -3.0, 3.0);
    check(src, std::slice::from_ref(&x));
    check_with(src, &[x], &Policy::Dynamic);
}

#[test]
fn ties_keep_the_first_position_and_ints_work() {
    let src = "graph g\ninput x: i64[N, 6]\na = argmax(x, 1)\nb = argmin(x, -1)\nv, i = max(x, 0)\n\
               output a, b, v, i\n";
    let x = Tensor::from_i64(&[2, 6], &[4, 9, 9, -1, -1, 0, 7, 7, 7, 7, 7, 7]);
    let out = run(src, std::slice::from_ref(&x));
    assert_eq!(out[0].to_i64().unwrap(), [1, 0]);
    assert_eq!(out[1].to_i64().unwrap(), [3, 0]);
    assert_eq!(out[2].to_i64().unwrap(), [7, 9, 9, 7, 7, 7]);
    assert_eq!(out[3].to_i64().unwrap(), [1, 0, 0, 1, 1, 1]);
    check(src, &[x]);
}

#[test]
fn fused_producers_and_consumers_of_indices_match_the_interpreter() {
    // The arg reduction reads a fused elementwise producer and feeds an elementwise consumer.
    let src = "graph g\ninput x: f32[N, C]\ninput y: f32[C]\ns = mul(x, y)\nt = tanh(s)\n\
               a = argmax(t, 1)\nb = add(a, a)\nf = to(a, f32)\n\
               output b, f\n";
    let x = tensor(DType::F32, &[9, 13], 3, -2.0, 2.0);
    let y = tensor(DType::F32, &[13], 4, -2.0, 2.0);
    check(src, &[x.clone(), y.clone()]);
    check_with(src, &[x, y], &Policy::Dynamic);
}

#[test]
fn cumsum_runs_along_any_dim_and_sums_bools_to_i64() {
    let src = "graph g\ninput x: f32[N, C, 7]\ninput b: bool[N, 5]\na = cumsum(x, 2)\n\
               c = cumsum(x, dim=0)\nd = cumsum(x, -2)\ne = cumsum(b, 1)\noutput a, c, d, e\n";
    let x = tensor(DType::F32, &[3, 4, 7], 5, -2.0, 2.0);
    let b = Tensor::from_f64(DType::Bool, &[3, 5], &[1.0, 0.0, 1.0, 1.0, 0.0].repeat(3));
    let out = run(src, &[x.clone(), b.clone()]);
    assert_eq!(out[3].dtype, DType::I64);
    assert_eq!(out[3].to_i64().unwrap()[..5], [1, 1, 2, 3, 3]);
    check(src, &[x.clone(), b.clone()]);
    check_with(src, &[x, b], &Policy::Dynamic);
}
