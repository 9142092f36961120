//! Elementwise ops, dtypes, broadcasting, vector tails and empty tensors against the
//! interpreter.
mod common;

use common::*;
use kiln_ir::{BinaryOp, DType, UnaryOp};

const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn unary_src(op: UnaryOp, dtype: DType) -> String {
    let call = match op {
        UnaryOp::GeluTanh => "gelu(x, approximate=\"tanh\")".to_string(),
        _ => format!("{}(x)", op.name()),
    };
    format!("graph u\ninput x: {dtype}[N, M]\ny = {call}\noutput y")
}

#[test]
fn every_unary_op_and_dtype() {
    let mut checked = 0;
    for op in UnaryOp::ALL {
        for dtype in FLOATS.into_iter().chain([DType::Bool]) {
            let src = unary_src(op, dtype);
            if kiln_ir::parse(&src).is_err() {
                continue;
            }
            // Odd inner size: vector loop plus scalar tail; values around 0 for every op.
            let x = tensor(dtype, &[3, 19], 7 + op as u64, -3.0, 3.0);
            check(&src, &[x]);
            checked += 1;
        }
    }
    assert!(
        checked >= UnaryOp::ALL.len() * 4,
        "only {checked} combinations ran"
    );
}

#[test]
fn special_values_propagate() {
    let vals = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1e30,
        -1e30,
        0.5,
    ];
    for dtype in [DType::F32, DType::F64] {
        let x = kiln_ir::Tensor::from_f64(dtype, &[8], &vals);
        for op in [
            "relu",
            "abs",
            "neg",
            "floor",
            "ceil",
            "sigmoid",
            "tanh",
            "logical_not",
        ] {
            check(
                &format!("graph s\ninput x: {dtype}[8]\ny = {op}(x)\noutput y"),
                std::slice::from_ref(&x),
            );
        }
        let y = kiln_ir::Tensor::from_f64(dtype, &[8], &[1.0; 8]);
        for op in [
            "maximum",
            "minimum",
            "eq",
            "ne",
            "lt",
            "logical_and",
            "logical_or",
        ] {
            check(
                &format!(
                    "graph s\ninput x: {dtype}[8]\ninput y: {dtype}[8]\nz = {op}(x, y)\noutput z"
                ),
                &[x.clone(), y.clone()],
            );
        }
    }
}

#[test]
fn every_binary_op_dtype_and_broadcast() {
    let mut checked = 0;
    for op in BinaryOp::ALL {
        for (da, db) in [
            (DType::F32, DType::F32),
            (DType::F64, DType::F64),
            (DType::F16, DType::F16),
            (DType::BF16, DType::BF16),
            (DType::F16, DType::F32),
            (DType::BF16, DType::F16),
            (DType::Bool, DType::F32),
            (DType::Bool, DType::Bool),
        ] {
            let src = format!(
                "graph b\ninput a: {da}[N, 1, M]\ninput b: {db}[K, M]\nc = {}(a, b)\noutput c",
                op.name()
            );
            if kiln_ir::parse(&src).is_err() {
                continue;
            }
            let lo = if op == BinaryOp::Pow { 0.1 } else { -2.0 };
            let a = tensor(da, &[4, 1, 9], 11, lo, 2.0);
            let b = tensor(db, &[3, 9], 12, -2.0, 2.0);
            check(&src, &[a, b]);
            checked += 1;
        }
    }
    assert!(
        checked >= BinaryOp::ALL.len() * 6,
        "only {checked} combinations ran"
    );
}

#[test]
fn scalar_operands_and_size_one_dims() {
    for dtype in FLOATS {
        let x = tensor(dtype, &[5, 1, 13], 3, -2.0, 2.0);
        let s = tensor(dtype, &[1], 4, -2.0, 2.0);
        check(
            &format!(
                "graph s\ninput x: {dtype}[A, 1, B]\ninput s: {dtype}[1]\n\
                 a = mul(x, 0.5)\nb = sub(1.5, a)\nc = div(b, s)\nd = pow(x, 2.0)\ne = add(c, d)\noutput e"
            ),
            &[x, s],
        );
    }
}

#[test]
fn where_and_casts() {
    for dtype in FLOATS {
        let c = tensor(DType::Bool, &[7, 5], 5, 0.0, 1.0);
        let a = tensor(dtype, &[7, 5], 6, -100.0, 100.0);
        let b = tensor(dtype, &[5], 7, -1.0, 1.0);
        check(
            &format!(
                "graph w\ninput c: bool[N, M]\ninput a: {dtype}[N, M]\ninput b: {dtype}[M]\n\
                 s = where(c, a, b)\nt = where(c, 2.0, a)\noutput s, t"
            ),
            &[c, a, b],
        );
        for to in FLOATS.into_iter().chain([DType::Bool]) {
            let x = tensor(dtype, &[3, 11], 8, -300.0, 300.0);
            check(
                &format!(
                    "graph c\ninput x: {dtype}[N, M]\ny = to(x, dtype={to})\nz = mul(y, 3.0)\noutput y, z"
                ),
                &[x],
            );
        }
    }
}

#[test]
fn odd_sizes_leave_vector_tails() {
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 1023] {
        for dtype in FLOATS {
            let x = tensor(dtype, &[n], n as u64, -4.0, 4.0);
            let y = tensor(dtype, &[n], n as u64 + 1, -4.0, 4.0);
            check(
                &format!(
                    "graph t\ninput x: {dtype}[N]\ninput y: {dtype}[N]\na = mul(x, y)\nb = exp(a)\nc = tanh(b)\noutput c"
                ),
                &[x, y],
            );
        }
    }
}

#[test]
fn empty_tensors_return_shaped_outputs() {
    let g = parse("graph e\ninput x: f32[N, M]\ny = exp(x)\nz = sum(x, dim=[1])\noutput y, z");
    let x = tensor(DType::F32, &[0, 5], 1, 0.0, 1.0);
    let (compiled, _) = compile(&g, std::slice::from_ref(&x), &kiln_shape::Policy::Static);
    let out = compiled.run(&[&x]).expect("run");
    assert_eq!(out[0].shape, vec![0, 5]);
    assert_eq!(out[1].shape, vec![0]);
    let x = tensor(DType::F32, &[3, 0], 1, 0.0, 1.0);
    check(
        "graph e\ninput x: f32[N, M]\ny = exp(x)\nz = sum(x, dim=[1])\noutput y, z",
        &[x],
    );
}

#[test]
fn large_parallel_elementwise() {
    let n = 300_001;
    let x = tensor(DType::F32, &[n], 1, -3.0, 3.0);
    let y = tensor(DType::F32, &[n], 2, -3.0, 3.0);
    let z = tensor(DType::F32, &[n], 3, -3.0, 3.0);
    check(
        "graph g\ninput x: f32[N]\ninput y: f32[N]\ninput z: f32[N]\n\
         a = mul(x, y)\nb = add(a, z)\nc = relu(b)\nd = sigmoid(c)\ne = mul(d, 2.0)\nf = sub(e, 1.0)\noutput f",
        &[x, y, z],
    );
}

/// `x*m ± d` with `m` a power of two is emitted as one FMA where the host has it; the result
/// must be bit-identical to the rounded multiply and add, overflow included.
#[test]
fn power_of_two_scale_and_shift_is_exact() {
    let mut xs: Vec<f32> = values(61, 23, -3.0, 3.0)
        .iter()
        .map(|v| *v as f32)
        .collect();
    xs.extend([
        f32::MAX,
        -f32::MAX,
        f32::MAX / 2.0,
        1.5 * 2f32.powi(126),
        2f32.powi(-149),
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0 / 3.0,
    ]);
    let x = kiln_ir::Tensor::from_f32(&[xs.len()], &xs);
    type Reference = fn(f32) -> f32;
    let cases: [(&str, Reference); 6] = [
        ("t = mul(x, 2.0)\ny = sub(t, 1.0)", |x| x * 2.0 - 1.0),
        ("t = mul(4.0, x)\ny = sub(0.75, t)", |x| 0.75 - 4.0 * x),
        ("t = mul(x, 8.0)\ny = add(t, 0.1)", |x| x * 8.0 + 0.1),
        ("t = mul(x, 1.0)\ny = add(1e-3, t)", |x| 1e-3 + x),
        // A huge constant: an overflowing `x*2` would come back finite inside an FMA.
        ("t = mul(x, 2.0)\ny = sub(t, 3.4028234663852886e38)", |x| {
            x * 2.0 - f32::MAX
        }),
        // Not a power of two: stays a rounded multiply and add.
        ("t = mul(x, 3.0)\ny = sub(t, 1.0)", |x| x * 3.0 - 1.0),
    ];
    for (body, reference) in cases {
        let src = format!("graph s\ninput x: f32[N]\n{body}\noutput y");
        let g = parse(&src);
        let (compiled, _) = compile(&g, std::slice::from_ref(&x), &kiln_shape::Policy::Static);
        let got = compiled.run(&[&x]).expect("run")[0].to_f32();
        for (i, (&v, g)) in xs.iter().zip(&got).enumerate() {
            let want = reference(v);
            assert!(
                want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                "{body}: element {i} (x = {v:e}): got {g:e}, expected {want:e}"
            );
        }
    }
}

/// sigmoid of a relu takes the non-negative sigmoid: same results as the interpreter on
/// negative inputs (relu makes them 0), -0, NaN and infinities.
#[test]
fn sigmoid_after_relu() {
    let mut v = values(203, 29, -60.0, 60.0);
    v.extend([
        -0.0,
        0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1e-30,
    ]);
    for dtype in FLOATS {
        let x = kiln_ir::Tensor::from_f64(dtype, &[v.len()], &v);
        check(
            &format!(
                "graph s\ninput x: {dtype}[N]\nr = relu(x)\ns = sigmoid(r)\ny = mul(s, 2.0)\nz = sub(y, 1.0)\noutput z, s"
            ),
            std::slice::from_ref(&x),
        );
    }
}
