//! Reference interpreter: unary and binary ops, `where`, casts, broadcasting, dtype rounding.
mod interp_common;

use interp_common::{assert_close, binary_graph, fixed, run1, single_op, t};
use kiln_ir::{BinaryOp, DType, Graph, IrError, Op, Operand, UnaryOp};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

fn unary(op: UnaryOp, dtype: DType, xs: &[f64]) -> Vec<f64> {
    let g = single_op(dtype, fixed(&[xs.len() as i64]), |x| Op::Unary { op, x });
    run1(&g, &[t(dtype, &[xs.len()], xs)])
        .expect("runs")
        .to_f64()
}

/// Expected values produced with Python's `math` module (exp, sin, cos, tanh, erf), e.g.
/// `repr(0.5*x*(1+math.erf(x/math.sqrt(2))))`, at x = -2, -0.5, 0, 0.5, 3.
#[test]
fn smooth_unary_ops_match_python_math() {
    let xs = [-2.0, -0.5, 0.0, 0.5, 3.0];
    let cases: [(UnaryOp, [f64; 5]); 8] = [
        (
            UnaryOp::Exp,
            [
                0.1353352832366127,
                0.6065306597126334,
                1.0,
                1.6487212707001282,
                20.085536923187668,
            ],
        ),
        (
            UnaryOp::Sin,
            [
                -0.9092974268256817,
                -0.479425538604203,
                0.0,
                0.479425538604203,
                0.1411200080598672,
            ],
        ),
        (
            UnaryOp::Cos,
            [
                -0.4161468365471424,
                0.8775825618903728,
                1.0,
                0.8775825618903728,
                -0.9899924966004454,
            ],
        ),
        (
            UnaryOp::Tanh,
            [
                -0.9640275800758169,
                -0.46211715726000974,
                0.0,
                0.46211715726000974,
                0.9950547536867305,
            ],
        ),
        (
            UnaryOp::Sigmoid,
            [
                0.11920292202211755,
                0.3775406687981454,
                0.5,
                0.6224593312018546,
                0.9525741268224334,
            ],
        ),
        (
            UnaryOp::Silu,
            [
                -0.2384058440442351,
                -0.1887703343990727,
                0.0,
                0.3112296656009273,
                2.8577223804673,
            ],
        ),
        (
            UnaryOp::Gelu,
            [
                -0.04550026389635842,
                -0.15426876936299344,
                0.0,
                0.34573123063700656,
                2.99595030590511,
            ],
        ),
        (
            UnaryOp::GeluTanh,
            [
                -0.04540230591222494,
                -0.15428599017485606,
                0.0,
                0.34571400982514394,
                2.996362607918227,
            ],
        ),
    ];
    for (op, want) in cases {
        let got = unary(op, DType::F64, &xs);
        assert_close(&got, &want, 1e-14);
    }
}

#[test]
fn log_sqrt_rsqrt_on_positive_values() {
    let xs = [0.25, 1.0, 2.0, 9.0];
    let ln2 = std::f64::consts::LN_2;
    assert_close(
        &unary(UnaryOp::Log, DType::F64, &xs),
        &[-2.0 * ln2, 0.0, ln2, 2.1972245773362196],
        1e-15,
    );
    assert_close(
        &unary(UnaryOp::Sqrt, DType::F64, &xs),
        &[0.5, 1.0, std::f64::consts::SQRT_2, 3.0],
        0.0,
    );
    assert_close(
        &unary(UnaryOp::Rsqrt, DType::F64, &xs),
        &[2.0, 1.0, 0.7071067811865475, 1.0 / 3.0],
        1e-15,
    );
}

#[test]
fn unary_ops_on_special_values() {
    let xs = [NAN, INF, -INF, 0.0, -1.0, -0.5, 2.5];
    let cases: [(UnaryOp, [f64; 7]); 12] = [
        (UnaryOp::Neg, [NAN, -INF, INF, 0.0, 1.0, 0.5, -2.5]),
        (UnaryOp::Abs, [NAN, INF, INF, 0.0, 1.0, 0.5, 2.5]),
        (UnaryOp::Relu, [NAN, INF, 0.0, 0.0, 0.0, 0.0, 2.5]),
        (
            UnaryOp::Exp,
            [
                NAN,
                INF,
                0.0,
                1.0,
                (-1.0f64).exp(),
                (-0.5f64).exp(),
                2.5f64.exp(),
            ],
        ),
        (UnaryOp::Log, [NAN, INF, NAN, -INF, NAN, NAN, 2.5f64.ln()]),
        (UnaryOp::Sqrt, [NAN, INF, NAN, 0.0, NAN, NAN, 2.5f64.sqrt()]),
        (
            UnaryOp::Rsqrt,
            [NAN, 0.0, NAN, INF, NAN, NAN, 1.0 / 2.5f64.sqrt()],
        ),
        (UnaryOp::Reciprocal, [NAN, 0.0, -0.0, INF, -1.0, -2.0, 0.4]),
        (
            UnaryOp::Sigmoid,
            [
                NAN,
                1.0,
                0.0,
                0.5,
                0.2689414213699951,
                0.3775406687981454,
                0.9241418199787566,
            ],
        ),
        (
            UnaryOp::Tanh,
            [
                NAN,
                1.0,
                -1.0,
                0.0,
                -0.7615941559557649,
                -0.46211715726000974,
                0.9866142981514303,
            ],
        ),
        (UnaryOp::Floor, [NAN, INF, -INF, 0.0, -1.0, -1.0, 2.0]),
        (UnaryOp::Ceil, [NAN, INF, -INF, 0.0, -1.0, -0.0, 3.0]),
    ];
    for (op, want) in cases {
        assert_close(&unary(op, DType::F64, &xs), &want, 1e-15);
    }
    assert!(unary(UnaryOp::Gelu, DType::F64, &[NAN])[0].is_nan());
    assert_eq!(unary(UnaryOp::Gelu, DType::F64, &[INF]), vec![INF]);
}

#[test]
fn logical_not_treats_nan_as_true_and_returns_bool() {
    let g = single_op(DType::F32, fixed(&[4]), |x| Op::Unary {
        op: UnaryOp::LogicalNot,
        x,
    });
    let out = run1(&g, &[t(DType::F32, &[4], &[0.0, NAN, -0.0, 3.0])]).expect("runs");
    assert_eq!(out.dtype, DType::Bool);
    assert_eq!(out.to_f64(), vec![1.0, 0.0, 1.0, 0.0]);
}

/// `a op b` over two f64 vectors of the same length.
fn binary(op: BinaryOp, a: &[f64], b: &[f64]) -> (DType, Vec<f64>) {
    let n = a.len();
    let g = binary_graph(
        op,
        (DType::F64, fixed(&[n as i64])),
        (DType::F64, fixed(&[n as i64])),
    );
    let out = run1(&g, &[t(DType::F64, &[n], a), t(DType::F64, &[n], b)]).expect("runs");
    (out.dtype, out.to_f64())
}

#[test]
fn arithmetic_binary_ops_with_special_values() {
    let a = [1.0, 0.0, -1.0, NAN, 2.0, INF];
    let b = [0.0, 0.0, 0.0, 1.0, 0.5, INF];
    let cases: [(BinaryOp, [f64; 6]); 7] = [
        (BinaryOp::Add, [1.0, 0.0, -1.0, NAN, 2.5, INF]),
        (BinaryOp::Sub, [1.0, 0.0, -1.0, NAN, 1.5, NAN]),
        (BinaryOp::Mul, [0.0, 0.0, -0.0, NAN, 1.0, INF]),
        (BinaryOp::Div, [INF, NAN, -INF, NAN, 4.0, NAN]),
        (BinaryOp::Maximum, [1.0, 0.0, 0.0, NAN, 2.0, INF]),
        (BinaryOp::Minimum, [0.0, 0.0, -1.0, NAN, 0.5, INF]),
        (
            BinaryOp::Pow,
            [1.0, 1.0, 1.0, NAN, std::f64::consts::SQRT_2, INF],
        ),
    ];
    for (op, want) in cases {
        let (dtype, got) = binary(op, &a, &b);
        assert_eq!(dtype, DType::F64, "{op:?}");
        assert_close(&got, &want, 1e-15);
    }
    // NaN in the second operand also propagates through maximum/minimum; pow(NaN, 0) is 1.
    assert!(binary(BinaryOp::Maximum, &[1.0], &[NAN]).1[0].is_nan());
    assert!(binary(BinaryOp::Minimum, &[1.0], &[NAN]).1[0].is_nan());
    assert_eq!(
        binary(BinaryOp::Pow, &[NAN, -8.0], &[0.0, 1.0 / 3.0]).1[0],
        1.0
    );
    assert!(binary(BinaryOp::Pow, &[-8.0], &[1.0 / 3.0]).1[0].is_nan());
}

#[test]
fn comparisons_and_logical_ops_give_bool() {
    let a = [1.0, NAN, NAN, 2.0, 0.0];
    let b = [1.0, NAN, 1.0, 3.0, NAN];
    let cases: [(BinaryOp, [f64; 5]); 8] = [
        (BinaryOp::Eq, [1.0, 0.0, 0.0, 0.0, 0.0]),
        (BinaryOp::Ne, [0.0, 1.0, 1.0, 1.0, 1.0]),
        (BinaryOp::Lt, [0.0, 0.0, 0.0, 1.0, 0.0]),
        (BinaryOp::Le, [1.0, 0.0, 0.0, 1.0, 0.0]),
        (BinaryOp::Gt, [0.0, 0.0, 0.0, 0.0, 0.0]),
        (BinaryOp::Ge, [1.0, 0.0, 0.0, 0.0, 0.0]),
        (BinaryOp::LogicalAnd, [1.0, 1.0, 1.0, 1.0, 0.0]),
        (BinaryOp::LogicalOr, [1.0, 1.0, 1.0, 1.0, 1.0]),
    ];
    for (op, want) in cases {
        let (dtype, got) = binary(op, &a, &b);
        assert_eq!(dtype, DType::Bool, "{op:?}");
        assert_eq!(got, want, "{op:?}");
    }
}

#[test]
fn broadcasting_aligns_shapes_on_the_right() {
    let g = binary_graph(
        BinaryOp::Add,
        (DType::F32, fixed(&[2, 1])),
        (DType::F32, fixed(&[3])),
    );
    let out = run1(
        &g,
        &[
            t(DType::F32, &[2, 1], &[1.0, 2.0]),
            t(DType::F32, &[3], &[10.0, 20.0, 30.0]),
        ],
    )
    .expect("runs");
    assert_eq!(out.shape, vec![2, 3]);
    assert_eq!(out.to_f64(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
}

#[test]
fn incompatible_broadcast_is_an_error_naming_the_node() {
    let g = binary_graph(
        BinaryOp::Mul,
        (DType::F32, fixed(&[2])),
        (DType::F32, fixed(&[3])),
    );
    let err = run1(
        &g,
        &[
            t(DType::F32, &[2], &[1.0, 2.0]),
            t(DType::F32, &[3], &[1.0; 3]),
        ],
    )
    .expect_err("shapes [2] and [3] do not broadcast");
    match err {
        IrError::Invalid { node, msg, .. } => {
            assert_eq!(node, "y");
            assert!(msg.contains("[2]") && msg.contains("[3]"), "{msg}");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn scalar_operands_on_either_side() {
    let sub = single_op(DType::F32, fixed(&[3]), |x| Op::Binary {
        op: BinaryOp::Sub,
        a: Operand::Scalar(2.0),
        b: Operand::Value(x),
    });
    let out = run1(&sub, &[t(DType::F32, &[3], &[0.5, 2.0, -1.0])]).expect("runs");
    assert_eq!(out.to_f64(), vec![1.5, 0.0, 3.0]);

    // A float scalar turns a bool tensor into f32.
    let mul = single_op(DType::Bool, fixed(&[2]), |x| Op::Binary {
        op: BinaryOp::Mul,
        a: Operand::Value(x),
        b: Operand::Scalar(0.5),
    });
    let out = run1(&mul, &[t(DType::Bool, &[2], &[1.0, 0.0])]).expect("runs");
    assert_eq!(out.dtype, DType::F32);
    assert_eq!(out.to_f64(), vec![0.5, 0.0]);
}

#[test]
fn f32_results_are_rounded_like_f32_arithmetic() {
    let g = single_op(DType::F32, fixed(&[2]), |x| Op::Binary {
        op: BinaryOp::Mul,
        a: Operand::Value(x),
        b: Operand::Scalar(3.0),
    });
    let out = run1(&g, &[Tensor::from_f32(&[2], &[0.1, 1.0 / 3.0])]).expect("runs");
    // What the hardware's f32 multiply gives.
    assert_eq!(
        out.to_f32(),
        vec![0.1f32 * 3.0f32, (1.0f32 / 3.0f32) * 3.0f32]
    );
}

use kiln_ir::Tensor;

/// Round-to-nearest-even at f16's and bf16's precision near 1 (ulp 2^-10 and 2^-7).
#[test]
fn f16_and_bf16_results_round_half_to_even() {
    for (dtype, ulp) in [(DType::F16, 2f64.powi(-10)), (DType::BF16, 2f64.powi(-7))] {
        let g = binary_graph(BinaryOp::Add, (dtype, fixed(&[3])), (dtype, fixed(&[3])));
        let half = ulp / 2.0;
        let a_vals = [1.0, 1.0 + ulp, 1.0];
        let b_vals = [half, half, half * 1.5];
        let out = run1(&g, &[t(dtype, &[3], &a_vals), t(dtype, &[3], &b_vals)]).expect("runs");
        assert_eq!(out.dtype, dtype);
        // 1 + ulp/2 ties to the even 1; (1+ulp) + ulp/2 ties to the even 1+2ulp;
        // 1 + 0.75ulp rounds up to 1+ulp.
        assert_eq!(
            out.to_f64(),
            vec![1.0, 1.0 + 2.0 * ulp, 1.0 + ulp],
            "{dtype}"
        );
    }
}

#[test]
fn mixed_half_types_promote_to_f32() {
    let g = binary_graph(
        BinaryOp::Add,
        (DType::F16, fixed(&[1])),
        (DType::BF16, fixed(&[1])),
    );
    // 1 + 2^-11 fits f32 but neither f16 nor bf16.
    let out = run1(
        &g,
        &[
            t(DType::F16, &[1], &[1.0]),
            t(DType::BF16, &[1], &[2f64.powi(-11)]),
        ],
    )
    .expect("runs");
    assert_eq!(out.dtype, DType::F32);
    assert_eq!(out.to_f64(), vec![1.0 + 2f64.powi(-11)]);
}

#[test]
fn comparison_with_a_scalar_casts_the_scalar_to_the_tensor_dtype() {
    // As in PyTorch: `torch.tensor([0.1], dtype=torch.float16) == 0.1` is True.
    let g = single_op(DType::F16, fixed(&[1]), |x| Op::Binary {
        op: BinaryOp::Eq,
        a: Operand::Value(x),
        b: Operand::Scalar(0.1),
    });
    let out = run1(&g, &[t(DType::F16, &[1], &[0.1])]).expect("runs");
    assert_eq!(out.to_f64(), vec![1.0]);
}

#[test]
fn where_selects_with_broadcasting_and_scalars() {
    let mut g = Graph::new("t");
    let c = g.add_input("c", DType::Bool, fixed(&[2, 1])).expect("c");
    let x = g.add_input("x", DType::F16, fixed(&[3])).expect("x");
    let y = g
        .add_op(
            "y",
            Op::Where {
                cond: Operand::Value(c),
                a: Operand::Value(x),
                b: Operand::Scalar(0.1),
            },
        )
        .expect("op");
    g.set_outputs(vec![y]).expect("outputs");
    let out = run1(
        &g,
        &[
            t(DType::Bool, &[2, 1], &[1.0, 0.0]),
            t(DType::F16, &[3], &[1.0, 2.0, 3.0]),
        ],
    )
    .expect("runs");
    assert_eq!(out.dtype, DType::F16);
    assert_eq!(out.shape, vec![2, 3]);
    // 0.1 in f16 is 0.0999755859375.
    let f = 0.0999755859375;
    assert_eq!(out.to_f64(), vec![1.0, 2.0, 3.0, f, f, f]);
}

#[test]
fn cast_rounds_to_the_target_dtype() {
    let to_bool = single_op(DType::F32, fixed(&[3]), |x| Op::Cast {
        x,
        dtype: DType::Bool,
    });
    let out = run1(&to_bool, &[t(DType::F32, &[3], &[0.0, NAN, -2.0])]).expect("runs");
    assert_eq!(out.to_f64(), vec![0.0, 1.0, 1.0]);

    let to_f16 = single_op(DType::F64, fixed(&[2]), |x| Op::Cast {
        x,
        dtype: DType::F16,
    });
    let out = run1(&to_f16, &[t(DType::F64, &[2], &[1.0 / 3.0, 70000.0])]).expect("runs");
    // 1/3 in f16 is 0x3555 = 0.333251953125; 70000 overflows f16's max 65504 to inf.
    assert_eq!(out.to_f64(), vec![0.333251953125, INF]);
}

#[test]
fn inputs_are_checked() {
    let g = single_op(DType::F32, fixed(&[2]), |x| Op::Unary {
        op: UnaryOp::Neg,
        x,
    });
    let err = run1(&g, &[t(DType::F16, &[2], &[1.0, 2.0])]).expect_err("wrong dtype");
    assert!(
        matches!(err, IrError::Input(kiln_ir::InputError::Dtype { .. })),
        "{err:?}"
    );
    let err = run1(&g, &[t(DType::F32, &[3], &[1.0, 2.0, 3.0])]).expect_err("wrong size");
    assert!(
        matches!(
            err,
            IrError::Input(kiln_ir::InputError::Dim {
                dim: 0,
                found: 3,
                ..
            })
        ),
        "{err:?}"
    );
    let err = run1(&g, &[]).expect_err("no inputs");
    assert!(
        matches!(
            err,
            IrError::Input(kiln_ir::InputError::Count {
                expected: 1,
                found: 0,
                ..
            })
        ),
        "{err:?}"
    );
}
