//! Reductions, softmax, pooling and layout ops against the interpreter.
mod common;

use common::*;
use kiln_ir::DType;
use kiln_shape::Policy;

const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

#[test]
fn reductions_keepdim_negative_and_all_dims() {
    for dtype in FLOATS {
        let x = tensor(dtype, &[3, 5, 7], 21, -2.0, 2.0);
        for op in ["sum", "mean", "amax", "amin"] {
            for args in [
                "dim=[1]",
                "dim=[-1], keepdim=true",
                "dim=[0, 2]",
                "",
                "dim=[-3, -1], keepdim=true",
            ] {
                let call = if args.is_empty() {
                    format!("{op}(x)")
                } else {
                    format!("{op}(x, {args})")
                };
                check(
                    &format!(
                        "graph r\ninput x: {dtype}[A, B, C]\ny = {call}\nz = mul(y, 2.0)\noutput z"
                    ),
                    std::slice::from_ref(&x),
                );
            }
        }
    }
}

#[test]
fn reduction_with_prologue_and_nan() {
    let mut v = values(24, 3, -1.0, 1.0);
    v[5] = f64::NAN;
    let x = kiln_ir::Tensor::from_f64(DType::F32, &[4, 6], &v);
    for op in ["sum", "amax", "amin"] {
        check(
            &format!("graph r\ninput x: f32[A, B]\na = exp(x)\ny = {op}(a, dim=[1])\noutput y"),
            std::slice::from_ref(&x),
        );
    }
}

/// Constant innermost runs of up to 64 elements are emitted as straight-line vector code
/// (whole vectors combined as a tree, then a scalar tail): runs of exactly 1, 16 and 64
/// vectors, runs with a tail, one just past the limit (the loop path), and NaN in a max;
/// short output rows with such runs are reduced whole (window rows outermost).
#[test]
fn unrolled_constant_runs() {
    for dtype in FLOATS {
        let x = tensor(dtype, &[1, 2, 112, 112], 31, -3.0, 3.0);
        check(
            &format!(
                "graph p\ninput x: {dtype}[N, C, H, W]\np = adaptive_avg_pool2d(x, output_size=[7, 7])\nq = adaptive_max_pool2d(x, output_size=[7, 28])\noutput p, q"
            ),
            &[x],
        );
    }
    // Whole output rows reduced as one nest: runs of 6 (a vector and a 2-element tail) and 20
    // (five vectors) elements, a NaN inside one window.
    for dtype in FLOATS {
        for (side, out) in [(18, 3), (100, 5)] {
            let mut v = values(2 * side * side, 7, -1.0, 1.0);
            v[side + 3] = f64::NAN;
            let x = kiln_ir::Tensor::from_f64(dtype, &[1, 2, side, side], &v);
            check(
                &format!(
                    "graph p\ninput x: {dtype}[N, C, H, W]\na = adaptive_avg_pool2d(x, output_size=[{out}, {out}])\nm = adaptive_max_pool2d(x, output_size=[{out}, {out}])\nb = mul(a, 3.0)\noutput b, m"
                ),
                &[x],
            );
        }
    }
    for (len, op) in [
        (4, "sum"),
        (64, "sum"),
        (65, "sum"),
        (23, "amax"),
        (64, "amin"),
    ] {
        let mut v = values(3 * len, 17, -2.0, 2.0);
        v[len + 5] = f64::NAN;
        let x = kiln_ir::Tensor::from_f64(DType::F32, &[3, len], &v);
        check(
            &format!("graph r\ninput x: f32[A, B]\ny = {op}(x, dim=[1])\noutput y"),
            std::slice::from_ref(&x),
        );
    }
}

#[test]
fn softmax_every_dim() {
    for dtype in FLOATS {
        let x = tensor(dtype, &[2, 3, 9], 5, -5.0, 5.0);
        for dim in [0, 1, 2, -1] {
            check(
                &format!("graph s\ninput x: {dtype}[A, B, C]\ny = softmax(x, {dim})\noutput y"),
                std::slice::from_ref(&x),
            );
        }
    }
}

#[test]
fn max_and_avg_pooling_variants() {
    let x = tensor(DType::F32, &[2, 3, 11, 10], 9, -3.0, 3.0);
    let cases = [
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "max_pool2d(x, kernel_size=[3, 2], stride=[2, 2], padding=[1, 0], ceil_mode=true)",
        "max_pool2d(x, kernel_size=[2, 3], stride=[1, 2], dilation=[2, 2])",
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[2, 1], ceil_mode=true)",
        "avg_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "avg_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=false)",
        "avg_pool2d(x, kernel_size=[3, 2], stride=[2, 3], padding=[1, 1], ceil_mode=true)",
        "avg_pool2d(x, kernel_size=[3, 2], stride=[2, 3], padding=[1, 1], ceil_mode=true, count_include_pad=false)",
        "adaptive_avg_pool2d(x, output_size=[7, 7])",
        "adaptive_max_pool2d(x, output_size=[7, 3])",
        "adaptive_avg_pool2d(x, output_size=[1, 1])",
    ];
    for call in cases {
        check(
            &format!(
                "graph p\ninput x: f32[N, C, H, W]\nr = relu(x)\np = {call}\nq = add(p, 1.0)\noutput q"
            ),
            std::slice::from_ref(&x),
        );
    }
    for dtype in [DType::F64, DType::F16, DType::BF16] {
        let x = tensor(dtype, &[1, 2, 10, 10], 9, -3.0, 3.0);
        check(
            &format!(
                "graph p\ninput x: {dtype}[N, C, H, W]\np = adaptive_avg_pool2d(x, output_size=[7, 7])\nm = max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])\noutput p, m"
            ),
            &[x],
        );
    }
}

#[test]
fn layout_ops() {
    let x = tensor(DType::F32, &[2, 3, 4], 13, -1.0, 1.0);
    let y = tensor(DType::F32, &[4, 3, 2], 14, -1.0, 1.0);
    let cases = [
        "a = permute(x, dims=[2, 0, 1])\nb = add(a, 1.0)\noutput b",
        "a = transpose(x, 0, 2)\nb = mul(a, y)\noutput b",
        "a = reshape(x, shape=[6, 4])\nb = exp(a)\noutput b",
        "a = reshape(x, shape=[4, -1])\nb = transpose(a, 0, 1)\nc = sigmoid(b)\noutput c",
        "a = unsqueeze(x, 1)\nb = expand(a, size=[2, 5, 3, 4])\nc = add(b, 0.5)\noutput c",
        "a = unsqueeze(x, -1)\nb = squeeze(a)\nc = neg(b)\noutput c",
        "a = unsqueeze(x, 0)\nb = squeeze(a, 0)\nc = permute(b, dims=[1, 2, 0])\nd = reshape(c, shape=[24])\noutput d",
        "a = sum(x, dim=[1], keepdim=true)\nb = expand(a, size=[2, 3, 4])\nc = sub(x, b)\noutput c",
    ];
    for body in cases {
        check(
            &format!("graph l\ninput x: f32[A, B, C]\ninput y: f32[C, B, A]\n{body}"),
            &[x.clone(), y.clone()],
        );
    }
}

#[test]
fn one_dynamic_program_runs_many_shapes() {
    let src = "graph d\ninput x: f32[N, C]\ninput y: f32[C]\na = mul(x, y)\nb = softmax(a, -1)\nc = sum(b, dim=[0])\noutput b, c";
    let g = parse(src);
    let first = [
        tensor(DType::F32, &[4, 6], 1, -1.0, 1.0),
        tensor(DType::F32, &[6], 2, -1.0, 1.0),
    ];
    let (compiled, _) = compile(&g, &first, &Policy::Dynamic);
    assert!(
        !compiled.program().symbols.is_empty(),
        "expected a dynamic program"
    );
    for (n, c) in [(4, 6), (2, 3), (9, 17), (33, 5), (3, 64)] {
        let inputs = [
            tensor(DType::F32, &[n, c], n as u64, -1.0, 1.0),
            tensor(DType::F32, &[c], c as u64, -1.0, 1.0),
        ];
        compare(&g, &compiled, &inputs, &format!("{src} at N={n}, C={c}"));
    }
}

#[test]
fn dynamic_pooling_and_large_reduction() {
    let src = "graph d\ninput x: f32[N, C, H, W]\np = max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])\nq = avg_pool2d(x, kernel_size=[2, 2], stride=[2, 2], ceil_mode=true)\noutput p, q";
    let g = parse(src);
    let first = [tensor(DType::F32, &[2, 3, 9, 8], 1, -1.0, 1.0)];
    let (compiled, _) = compile(&g, &first, &Policy::Dynamic);
    for shape in [[2, 3, 9, 8], [3, 2, 17, 5], [2, 4, 64, 66]] {
        let inputs = [tensor(DType::F32, &shape, 7, -1.0, 1.0)];
        compare(&g, &compiled, &inputs, &format!("{src} at {shape:?}"));
    }
    let x = tensor(DType::F32, &[3, 70_000], 4, -1.0, 1.0);
    check(
        "graph s\ninput x: f32[A, B]\ny = sum(x, dim=[1])\nz = amax(x, dim=[0])\noutput y, z",
        &[x],
    );
}

/// Pooling over rows wide enough for the lanes-over-output-columns path (interior columns
/// in vectors, border columns scalar), with NaNs inside windows, every stride kind (1, 2, 3)
/// and dilation, f32/f64/bf16, and a dynamic program run at several widths.
#[test]
fn wide_rows_pool_in_lanes() {
    let mut x = tensor(DType::F32, &[2, 3, 9, 41], 21, -2.0, 2.0);
    for i in [5usize, 100, 413, 1500] {
        x.data[i * 4..i * 4 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let cases = [
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "max_pool2d(x, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1])",
        "max_pool2d(x, kernel_size=[2, 2], stride=[3, 3])",
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[1, 2], ceil_mode=true)",
        "avg_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "avg_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=false)",
        "avg_pool2d(x, kernel_size=[2, 3], stride=[1, 1], padding=[1, 1], ceil_mode=true)",
    ];
    for call in cases {
        check(
            &format!("graph p\ninput x: f32[N, C, H, W]\np = {call}\nq = mul(p, 2.0)\noutput q"),
            std::slice::from_ref(&x),
        );
    }
    for dtype in [DType::F64, DType::BF16] {
        let x = tensor(dtype, &[1, 2, 7, 29], 5, -3.0, 3.0);
        check(
            &format!(
                "graph p\ninput x: {dtype}[N, C, H, W]\nm = max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])\na = avg_pool2d(x, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1])\noutput m, a"
            ),
            &[x],
        );
    }
    let src = "graph d\ninput x: f32[N, C, H, W]\np = max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])\noutput p";
    let g = parse(src);
    let (compiled, _) = compile(
        &g,
        &[tensor(DType::F32, &[2, 2, 8, 8], 1, -1.0, 1.0)],
        &Policy::Dynamic,
    );
    for shape in [[2, 2, 8, 8], [2, 3, 5, 37], [3, 2, 11, 64]] {
        let inputs = [tensor(DType::F32, &shape, 3, -1.0, 1.0)];
        compare(&g, &compiled, &inputs, &format!("{src} at {shape:?}"));
    }
}

/// Pooling large enough to be split into tasks that start in the middle of a row: each task
/// computes its first row's pinned index sums before its row loop and the next row's at the
/// end of each row. Adaptive windows over 58 rows are 9 or 10 wide (floor/ceil divisions of
/// the output row, pinned per row), and the innermost runs walk a carried offset.
#[test]
fn pooling_split_into_tasks_mid_row() {
    let x = tensor(DType::F32, &[4, 32, 58, 58], 9, -1.0, 1.0);
    for call in [
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "adaptive_avg_pool2d(x, output_size=[7, 7])",
    ] {
        check(
            &format!("graph p\ninput x: f32[N, C, H, W]\np = {call}\noutput p"),
            std::slice::from_ref(&x),
        );
    }
    // Exact windows: constant unbounded runs (8 wide: whole vectors; 14 wide: vectors and a
    // scalar tail), f32 and f64.
    for dtype in [DType::F32, DType::F64] {
        let x = tensor(dtype, &[2, 8, 56, 56], 11, 0.0, 1.0);
        check(
            &format!(
                "graph p\ninput x: {dtype}[N, C, H, W]\na = adaptive_avg_pool2d(x, output_size=[7, 7])\nb = adaptive_avg_pool2d(x, output_size=[4, 4])\noutput a, b"
            ),
            &[x],
        );
    }
    // Positive values: 58-element runs are summed in f32 lanes first, and a sum that cancels
    // to near zero would only measure that rounding, not the row sums.
    let positive = tensor(DType::F32, &[4, 32, 58, 58], 10, 0.0, 1.0);
    check(
        "graph s\ninput x: f32[N, C, H, W]\ns = sum(x, dim=[3])\noutput s",
        &[positive],
    );
}

/// Rows reduced whole (adaptive 112 -> 7) when rayon cuts the iteration space mid-row: 5047
/// points (721 rows of 7) in 2 to 8 tasks put task boundaries inside rows, which go point by
/// point.
#[test]
fn whole_rows_split_by_tasks() {
    let x = tensor(DType::F32, &[1, 103, 112, 112], 37, 0.0, 1.0);
    check(
        "graph p\ninput x: f32[N, C, H, W]\np = adaptive_avg_pool2d(x, output_size=[7, 7])\nq = adaptive_max_pool2d(x, output_size=[7, 7])\noutput p, q",
        std::slice::from_ref(&x),
    );
}
