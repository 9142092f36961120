//! Shape inference in a dynamic environment: output shapes and the guards it records.
mod interp_common;

use interp_common::{fixed, single_op, sym};
use kiln_ir::{BinaryOp, DType, Graph, IrError, Op, Operand, Pool2d, TensorType, infer_shapes};
use kiln_shape::{Bindings, Dim, GuardSet, Policy, ShapeEnv, bind_symbols, specialize_inputs};

/// Infers `g` for concrete input shapes under the dynamic policy; returns the output types and
/// the guards, as GuardSet's Display prints them.
fn infer(g: &Graph, shapes: &[Vec<i64>]) -> Result<(Vec<TensorType>, String), IrError> {
    let decls = g.input_dims();
    let values: Bindings = bind_symbols(&decls, shapes)?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &decls, &values, &Policy::Dynamic).expect("env");
    let types = infer_shapes(g, &mut env, &inputs)?;
    let outs = g
        .outputs()
        .iter()
        .map(|o| types[o.index()].clone())
        .collect();
    Ok((outs, env.produce_guards().to_string()))
}

fn shape_str(t: &TensorType) -> String {
    let parts: Vec<String> = t.shape.iter().map(|e| e.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

fn binary_graph(a: Vec<Dim>, b: Vec<Dim>) -> Graph {
    let mut g = Graph::new("t");
    let x = g.add_input("x", DType::F32, a).expect("x");
    let y = g.add_input("y", DType::F32, b).expect("y");
    let z = g
        .add_op(
            "z",
            Op::Binary {
                op: BinaryOp::Add,
                a: Operand::Value(x),
                b: Operand::Value(y),
            },
        )
        .expect("z");
    g.set_outputs(vec![z]).expect("outputs");
    g
}

#[test]
fn same_symbols_broadcast_without_guards() {
    let g = binary_graph(sym(&["N", "M"]), sym(&["N", "M"]));
    let (outs, guards) = infer(&g, &[vec![3, 5], vec![3, 5]]).expect("infers");
    assert_eq!(shape_str(&outs[0]), "[N, M]");
    assert_eq!(guards, GuardSet::default().to_string());
}

#[test]
fn different_symbols_that_are_equal_record_an_equality_guard() {
    let g = binary_graph(sym(&["N"]), sym(&["P"]));
    let (outs, guards) = infer(&g, &[vec![4], vec![4]]).expect("infers");
    assert_eq!(shape_str(&outs[0]), "[N]");
    // kiln-shape's canonical form of `N == P`.
    assert_eq!(guards, "N - P == 0");
}

#[test]
fn different_symbols_with_different_sizes_do_not_broadcast() {
    let g = binary_graph(sym(&["N"]), sym(&["P"]));
    let err = infer(&g, &[vec![4], vec![5]]).expect_err("4 vs 5");
    match err {
        IrError::Invalid { node, msg, .. } => {
            assert_eq!(node, "z");
            assert!(msg.contains("[N]") && msg.contains("[P]"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_symbol_bound_to_one_broadcasts_as_a_constant() {
    let g = binary_graph(sym(&["N", "M"]), sym(&["B", "M"]));
    // B = 1 is specialised by the dynamic policy, so it broadcasts against N.
    let (outs, guards) = infer(&g, &[vec![3, 5], vec![1, 5]]).expect("infers");
    assert_eq!(shape_str(&outs[0]), "[N, M]");
    assert_eq!(guards, "B == 1");
}

#[test]
fn adaptive_pool_specialises_height_and_width() {
    let g = single_op(DType::F32, sym(&["1", "64", "H", "W"]), |x| {
        Op::AdaptiveAvgPool2d {
            x,
            output_size: [5, 7],
        }
    });
    let (outs, guards) = infer(&g, &[vec![1, 64, 8, 9]]).expect("infers");
    assert_eq!(shape_str(&outs[0]), "[1, 64, 5, 7]");
    assert_eq!(guards, "H == 8 and W == 9");
}

fn ceil_pool(k: i64, s: i64, p: i64) -> Pool2d {
    Pool2d {
        kernel_size: [1, k],
        stride: [1, s],
        padding: [0, p],
        dilation: [1, 1],
        ceil_mode: true,
        count_include_pad: true,
        divisor_override: None,
    }
}

#[test]
fn max_pool_ceil_mode_on_a_symbolic_size_guards_the_last_window() {
    // k=2, s=2, p=1 along W: out = (W + 2)//2 + 1, minus one when (out-1)*2 >= W + 1,
    // i.e. when W is odd.
    let g = single_op(DType::F32, sym(&["1", "1", "1", "W"]), |x| Op::MaxPool2d {
        x,
        params: ceil_pool(2, 2, 1),
    });
    let (even, even_guards) = infer(&g, &[vec![1, 1, 1, 6]]).expect("W = 6");
    let (odd, odd_guards) = infer(&g, &[vec![1, 1, 1, 5]]).expect("W = 5");
    // In kiln-shape's canonical form: `(W + 2*1 - 1*(2-1) - 1 + (2-1))//2 + 1` windows, and
    // "the last window starts in the input or left padding", `(out-1)*2 < W + 1`, reads
    // `W%2 == 0`.
    assert_eq!(shape_str(&even[0]), "[1, 1, 1, (W + 1)//2 + 1]");
    assert_eq!(even_guards, "W%2 == 0");
    assert_eq!(shape_str(&odd[0]), "[1, 1, 1, (W + 1)//2]");
    assert_eq!(odd_guards, "W%2 == 1");
    // W = 6: 4 windows [-1,0] [1,2] [3,4] [5,6]; the last starts at 5 < W + p = 7.
    // W = 5: the 4th window would start at 5 >= W, so there are 3.
    let out_even = &even[0].shape[3];
    let out_odd = &odd[0].shape[3];
    let at = |e: &kiln_shape::Expr, w: i64| {
        let mut b = Bindings::new();
        b.insert("W", w);
        e.eval(&b).expect("evaluates")
    };
    assert_eq!(at(out_even, 6), 4);
    assert_eq!(at(out_odd, 5), 3);
}

#[test]
fn reshape_with_symbols_and_minus_one() {
    let g = single_op(DType::F32, sym(&["N", "4"]), |x| Op::Reshape {
        x,
        shape: vec![Dim::Sym("N".into()), Dim::Fixed(2), Dim::Fixed(-1)],
    });
    let (outs, guards) = infer(&g, &[vec![3, 4]]).expect("infers");
    // 4*N / (N*2) cancels exactly: no divisibility guard is needed.
    assert_eq!(shape_str(&outs[0]), "[N, 2, 2]");
    assert_eq!(guards, GuardSet::default().to_string());

    let unknown = single_op(DType::F32, fixed(&[4]), |x| Op::Reshape {
        x,
        shape: vec![Dim::Sym("Q".into())],
    });
    let err = infer(&unknown, &[vec![4]]).expect_err("Q is unknown");
    assert!(err.to_string().contains("`Q`"), "{err}");
}

#[test]
fn expand_a_size_one_dim_to_a_symbol() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", DType::F32, fixed(&[1, 3])).expect("x");
    let y = g.add_input("y", DType::F32, sym(&["N", "3"])).expect("y");
    let e = g
        .add_op(
            "e",
            Op::Expand {
                x,
                shape: vec![Dim::Sym("N".into()), Dim::Fixed(-1)],
            },
        )
        .expect("e");
    let z = g
        .add_op(
            "z",
            Op::Binary {
                op: BinaryOp::Mul,
                a: Operand::Value(e),
                b: Operand::Value(y),
            },
        )
        .expect("z");
    g.set_outputs(vec![z]).expect("outputs");
    let (outs, guards) = infer(&g, &[vec![1, 3], vec![7, 3]]).expect("infers");
    assert_eq!(shape_str(&outs[0]), "[N, 3]");
    assert_eq!(guards, GuardSet::default().to_string());
}
