//! The gather ops (index_select, gather, scatter_add, index_add, embedding) on the CPU
//! backend against the interpreter: every dtype, repeated indices, symbolic batch dims,
//! fused producers and consumers, and out-of-range indices refused before anything is written.
mod common;

use common::{check, check_with, compile, parse, tensor};
use kiln_cpu::RunError;
use kiln_ir::{DType, Tensor};
use kiln_shape::Policy;

/// `n` indices in `0..size`, deterministic.
fn indices(shape: &[usize], size: usize, seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<i64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % size as u64) as i64
        })
        .collect();
    Tensor::from_i64(shape, &v)
}

#[test]
fn index_select_and_gather_match_the_interpreter_for_every_dtype() {
    for dtype in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::Bool,
    ] {
        let src = format!(
            "graph g\ninput x: {dtype}[5, 6, 7]\ninput i: i64[9]\ninput j: i64[5, 4, 7]\n\
             input k: i64[3, 6, 2]\na = index_select(x, 1, i)\nb = index_select(x, 0, i)\n\
             c = index_select(x, -1, i)\nd = gather(x, 1, j)\ne = gather(x, 0, k)\n\
             f = gather(x, 2, k)\noutput a, b, c, d, e, f\n"
        );
        let x = tensor(dtype, &[5, 6, 7], 3, -4.0, 4.0);
        let i = indices(&[9], 5, 1);
        let j = indices(&[5, 4, 7], 6, 2);
        let k = indices(&[3, 6, 2], 5, 3);
        check(&src, &[x, i, j, k]);
    }
}

/// Random values; integers for f16/bf16, whose sums are then exact: the CPU rounds after
/// every addition (as torch's CPU scatter_add does), the interpreter once at the end, so
/// inexact half-precision sums differ by more than one rounding.
fn data(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let t = tensor(dtype, shape, seed, -4.0, 4.0);
    if matches!(dtype, DType::F16 | DType::BF16) {
        let v: Vec<f64> = t.to_f64().iter().map(|x| x.round()).collect();
        return Tensor::from_f64(dtype, shape, &v);
    }
    t
}

#[test]
fn scatter_add_and_index_add_accumulate_repeats_like_the_interpreter() {
    for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64] {
        let src = format!(
            "graph g\ninput x: {dtype}[4, 6, 5]\ninput j: i64[4, 9, 5]\ninput s: {dtype}[4, 9, 6]\n\
             input k: i64[3, 6, 5]\ninput t: {dtype}[3, 6, 5]\ninput i: i64[8]\n\
             input u: {dtype}[4, 8, 5]\ninput v: {dtype}[8, 6, 5]\n\
             a = scatter_add(x, 1, j, s)\nb = scatter_add(x, 0, k, t)\n\
             c = index_add(x, 1, i, u)\nd = index_add(x, 0, i, v, alpha=2)\noutput a, b, c, d\n"
        );
        let x = data(dtype, &[4, 6, 5], 3);
        let j = indices(&[4, 9, 5], 6, 4);
        let s = data(dtype, &[4, 9, 6], 5);
        let k = indices(&[3, 6, 5], 4, 6);
        let t = data(dtype, &[3, 6, 5], 7);
        let i = Tensor::from_i64(&[8], &[0, 3, 3, 1, 0, 3, 2, 3]);
        let u = data(dtype, &[4, 8, 5], 8);
        let v = data(dtype, &[8, 6, 5], 9);
        check(&src, &[x, j, s, k, t, i, u, v]);
    }
}

#[test]
fn embedding_and_symbolic_batch_dims_serve_several_sizes() {
    let src = "graph g\ninput ids: i64[N, L]\ninput w: f32[11, 8]\ninput x: f32[N, 6]\n\
               input j: i64[N, 3]\ne = embedding(ids, w, padding_idx=0)\nr = relu(e)\n\
               g1 = gather(x, 1, j)\ns = scatter_add(x, 1, j, g1)\noutput r, s\n";
    for (n, l) in [(2, 5), (7, 1), (3, 4)] {
        let ids = indices(&[n, l], 11, n as u64);
        let w = tensor(DType::F32, &[11, 8], 2, -1.0, 1.0);
        let x = tensor(DType::F32, &[n, 6], 3, -1.0, 1.0);
        let j = indices(&[n, 3], 6, 5);
        check_with(src, &[ids, w, x, j], &Policy::Dynamic);
    }
}

#[test]
fn fused_producers_and_consumers_read_and_feed_the_library_step() {
    // The index comes from argmax (a kernel), the gathered values feed an elementwise kernel.
    let src = "graph g\ninput x: f32[N, 7]\ninput y: f32[N, 7]\na = argmax(y, 1, keepdim=true)\n\
               t = tanh(x)\ng1 = gather(t, 1, a)\no = mul(g1, 2.0)\noutput o\n";
    let x = tensor(DType::F32, &[5, 7], 3, -2.0, 2.0);
    let y = tensor(DType::F32, &[5, 7], 4, -2.0, 2.0);
    check(src, &[x.clone(), y.clone()]);
    check_with(src, &[x, y], &Policy::Dynamic);
}

#[test]
fn bad_indices_are_typed_errors_naming_node_value_and_dim_size() {
    let src = "graph g\ninput x: f32[3, 4]\ninput i: i64[2]\nsel = index_select(x, 1, i)\n\
               output sel\n";
    let x = tensor(DType::F32, &[3, 4], 1, -1.0, 1.0);
    let g = parse(src);
    let ok = Tensor::from_i64(&[2], &[0, 3]);
    let (compiled, _) = compile(&g, &[x.clone(), ok], &Policy::Static);
    for bad in [4, -1, i64::MAX, i64::MIN] {
        let i = Tensor::from_i64(&[2], &[1, bad]);
        match compiled.run(&[&x, &i]) {
            Err(RunError::IndexOutOfRange {
                node,
                op,
                index,
                dim,
                size,
            }) => {
                assert_eq!((node.as_str(), op.as_str()), ("sel", "index_select"));
                assert_eq!((index, dim, size), (bad, 1, 4));
            }
            other => panic!("expected an index error for {bad}, got {other:?}"),
        }
    }
    let src = "graph g\ninput x: f64[3, 4]\ninput j: i64[3, 4]\ninput s: f64[3, 4]\n\
               y = scatter_add(x, 0, j, s)\noutput y\n";
    let g = parse(src);
    let x = tensor(DType::F64, &[3, 4], 1, -1.0, 1.0);
    let j = indices(&[3, 4], 3, 2);
    let (compiled, _) = compile(&g, &[x.clone(), j, x.clone()], &Policy::Static);
    let mut bad = vec![0i64; 12];
    bad[7] = 3;
    let e = compiled
        .run(&[&x, &Tensor::from_i64(&[3, 4], &bad), &x])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "node `y` (scatter_add): index 3 is out of bounds for dimension 0 with size 3 (index \
         out of range in self)"
    );
}

#[test]
fn max_pool2d_indices_match_the_interpreter_with_ties_padding_and_dilation() {
    for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let src = format!(
            "graph g\ninput x: {dtype}[N, 3, 9, 8]\ninput u: {dtype}[2, 7, 6]\n\
             v, i = max_pool2d(x, 2, return_indices=true)\n\
             w, j = max_pool2d(x, 3, stride=2, padding=1, dilation=2, ceil_mode=true, \
             return_indices=true)\nq, k = max_pool2d(u, [3, 2], stride=[1, 2], return_indices=true)\n\
             f = to(i, f32)\noutput v, i, w, j, q, k, f\n"
        );
        // Integer values: many ties, where the first maximum must win.
        let ints = |shape: &[usize], seed| {
            let t = tensor(dtype, shape, seed, -3.0, 3.0);
            let v: Vec<f64> = t.to_f64().iter().map(|x| x.round()).collect();
            Tensor::from_f64(dtype, shape, &v)
        };
        let (x, u) = (ints(&[2, 3, 9, 8], 1), ints(&[2, 7, 6], 2));
        check(&src, &[x.clone(), u.clone()]);
        check_with(&src, &[x, u], &Policy::Dynamic);
    }
}
