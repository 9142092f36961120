//! int64 tensors on the CPU backend: loads and stores of i64 buffers, arithmetic carried in
//! f64, PyTorch's promotions and `to(x, i64)`'s truncation, against the interpreter and by hand.
mod common;

use common::{check, compile, parse, tensor};
use kiln_ir::{DType, Tensor};
use kiln_shape::Policy;

fn ints(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape, values)
}

fn run(src: &str, inputs: &[Tensor]) -> Vec<Tensor> {
    let g = parse(src);
    let (compiled, _) = compile(&g, inputs, &Policy::Static);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    compiled.run(&refs).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn integer_arithmetic_is_exact_and_keeps_i64() {
    let src = "graph g\ninput x: i64[N]\ninput y: i64[N]\n\
               a = add(x, y)\nb = mul(x, y)\nc = sub(x, y)\nd = abs(c)\ne = neg(x)\n\
               m = maximum(x, y)\noutput a, b, c, d, e, m\n";
    let x = ints(&[4], &[3, -7, 1 << 40, 0]);
    let y = ints(&[4], &[5, 2, 3, -9]);
    let out = run(src, &[x.clone(), y.clone()]);
    let want: [&[i64]; 6] = [
        &[8, -5, (1 << 40) + 3, -9],
        &[15, -14, 3 << 40, 0],
        &[-2, -9, (1 << 40) - 3, 9],
        &[2, 9, (1 << 40) - 3, 9],
        &[-3, 7, -(1 << 40), 0],
        &[5, 2, 1 << 40, 0],
    ];
    for (t, w) in out.iter().zip(want) {
        assert_eq!(t.dtype, DType::I64);
        assert_eq!(t.to_i64().unwrap(), w);
    }
    check(src, &[x, y]);
}

#[test]
fn promotions_follow_torch() {
    // i64 / i64 is f32 (true division); i64 + f32 is f32; i64 + 1.5 is f32; exp(i64) is f32;
    // comparisons are bool; sum keeps i64.
    let src = "graph g\ninput x: i64[N]\ninput y: i64[N]\ninput f: f32[N]\n\
               d = div(x, y)\ne = add(x, f)\ns = add(x, 1.5)\nx2 = exp(x)\nl = lt(x, y)\n\
               r = sum(x)\noutput d, e, s, x2, l, r\n";
    let x = ints(&[3], &[7, -7, 2]);
    let y = ints(&[3], &[2, 2, 0]);
    let f = Tensor::from_f32(&[3], &[0.5, 0.25, -1.0]);
    let out = run(src, &[x.clone(), y.clone(), f.clone()]);
    let dtypes: Vec<DType> = out.iter().map(|t| t.dtype).collect();
    use DType::*;
    assert_eq!(dtypes, [F32, F32, F32, F32, Bool, I64]);
    assert_eq!(out[0].to_f64(), [3.5, -3.5, f64::INFINITY]);
    assert_eq!(out[1].to_f64(), [7.5, -6.75, 1.0]);
    assert_eq!(out[2].to_f64(), [8.5, -5.5, 3.5]);
    assert_eq!(out[4].to_f64(), [0.0, 1.0, 0.0]);
    assert_eq!(out[5].to_i64().unwrap(), [2]);
    check(src, &[x, y, f]);
}

#[test]
fn to_i64_truncates_toward_zero_and_maps_nan_and_overflow_to_min() {
    let src = "graph g\ninput x: f64[N]\ninput h: f32[N]\na = to(x, i64)\nb = to(h, i64)\n\
               c = to(a, f32)\noutput a, b, c\n";
    let v = [2.7, -2.7, 1e30, f64::NAN, f64::INFINITY, -0.5, 9.0e15];
    let x = Tensor::from_f64(DType::F64, &[7], &v);
    let h = Tensor::from_f64(DType::F32, &[7], &v);
    let out = run(src, &[x.clone(), h.clone()]);
    let min = i64::MIN;
    assert_eq!(
        out[0].to_i64().unwrap(),
        [2, -2, min, min, min, 0, 9_000_000_000_000_000]
    );
    assert_eq!(out[1].to_i64().unwrap()[..6], [2, -2, min, min, min, 0]);
    check(src, &[x, h]);
}

#[test]
fn i64_inputs_broadcast_and_fuse_with_reductions_differentially() {
    let src = "graph g\ninput x: i64[N, C]\ninput b: i64[C]\ninput f: f64[N, C]\n\
               a = add(x, b)\nm = amax(a, [1])\nn = amin(x, [0], keepdim=true)\n\
               s = sum(a, [0])\nl = lt(x, b)\nw = where(l, x, f)\nc = to(f, i64)\nk = mul(c, x)\n\
               output m, n, s, w, k\n";
    let x = tensor(DType::I64, &[5, 7], 1, -50.0, 50.0);
    let b = tensor(DType::I64, &[7], 2, -50.0, 50.0);
    let f = tensor(DType::F64, &[5, 7], 3, -9.0, 9.0);
    check(src, &[x.clone(), b.clone(), f.clone()]);
    common::check_with(src, &[x, b, f], &Policy::Dynamic);
}
