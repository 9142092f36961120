//! `validate`: size-free checks of dtypes, ranks and arguments, with errors naming the node.
mod interp_common;

use interp_common::{fixed, single_op};
use kiln_ir::{
    BinaryOp, DType, Graph, IrError, NodeId, Op, Operand, Pool2d, ReduceOp, UnaryOp, validate,
};
use kiln_shape::Dim;

/// The `Invalid` message of validating `op` applied to an input `x` of `dtype`/`dims`.
fn invalid_msg(dtype: DType, dims: &[i64], op: impl FnOnce(NodeId) -> Op) -> String {
    let g = single_op(dtype, fixed(dims), op);
    match validate(&g) {
        Err(IrError::Invalid { node, msg, .. }) => {
            assert_eq!(node, "y");
            msg
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

fn valid(dtype: DType, dims: &[i64], op: impl FnOnce(NodeId) -> Op) {
    let g = single_op(dtype, fixed(dims), op);
    validate(&g).expect("valid graph");
}

fn pool(k: i64, s: i64, p: i64, d: i64) -> Pool2d {
    Pool2d {
        kernel_size: [k, k],
        stride: [s, s],
        padding: [p, p],
        dilation: [d, d],
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    }
}

#[test]
fn a_graph_needs_an_output() {
    let mut g = Graph::new("t");
    g.add_input("x", DType::F32, fixed(&[2])).expect("x");
    assert_eq!(validate(&g), Err(IrError::NoOutputs));
}

#[test]
fn binary_ops_need_a_tensor_and_bool_subtraction_is_rejected() {
    let msg = invalid_msg(DType::F32, &[2], |_| Op::Binary {
        op: BinaryOp::Add,
        a: Operand::Scalar(1.0),
        b: Operand::Scalar(2.0),
    });
    assert!(msg.contains("scalars"), "{msg}");
    let mut g = Graph::new("t");
    let a = g.add_input("a", DType::Bool, fixed(&[2])).expect("a");
    let y = g
        .add_op(
            "y",
            Op::Binary {
                op: BinaryOp::Sub,
                a: Operand::Value(a),
                b: Operand::Value(a),
            },
        )
        .expect("y");
    g.set_outputs(vec![y]).expect("outputs");
    assert!(matches!(validate(&g), Err(IrError::Invalid { .. })));
}

#[test]
fn where_needs_a_bool_condition() {
    let msg = invalid_msg(DType::F32, &[2], |x| Op::Where {
        cond: Operand::Value(x),
        a: Operand::Scalar(1.0),
        b: Operand::Scalar(0.0),
    });
    assert!(msg.contains("bool") && msg.contains("f32"), "{msg}");
    valid(DType::Bool, &[2], |x| Op::Where {
        cond: Operand::Value(x),
        a: Operand::Scalar(1.0),
        b: Operand::Scalar(0.0),
    });
}

#[test]
fn reductions_check_dtype_and_dims() {
    let reduce = |op, dims: Vec<i64>| {
        move |x| Op::Reduce {
            op,
            x,
            dims,
            keepdim: false,
        }
    };
    let msg = invalid_msg(DType::Bool, &[2], reduce(ReduceOp::Mean, vec![]));
    assert!(
        msg.contains("cast to a float dtype with to() first"),
        "{msg}"
    );
    valid(DType::Bool, &[2], reduce(ReduceOp::Amax, vec![]));
    let msg = invalid_msg(DType::F32, &[2, 3], reduce(ReduceOp::Sum, vec![2]));
    assert!(
        msg.contains("out of range") && msg.contains("-2..=1"),
        "{msg}"
    );
    let msg = invalid_msg(DType::F32, &[2, 3], reduce(ReduceOp::Sum, vec![1, -1]));
    assert!(msg.contains("more than once"), "{msg}");
    valid(DType::F32, &[2, 3], reduce(ReduceOp::Sum, vec![-1, 0]));
}

#[test]
fn softmax_needs_a_float_input_and_a_dim_in_range() {
    let msg = invalid_msg(DType::Bool, &[2], |x| Op::Softmax { x, dim: 0 });
    assert!(msg.contains("float"), "{msg}");
    let msg = invalid_msg(DType::F32, &[2], |x| Op::Softmax { x, dim: -2 });
    assert!(msg.contains("out of range"), "{msg}");
}

#[test]
fn pooling_parameters_follow_pytorch() {
    let max = |p: Pool2d| move |x| Op::MaxPool2d { x, params: p };
    valid(DType::F32, &[1, 1, 4, 4], max(pool(3, 1, 1, 2)));
    // Unbatched (C, H, W) inputs pool as in PyTorch; other ranks are refused.
    valid(DType::F32, &[1, 4, 4], max(pool(2, 2, 0, 1)));
    for rank in [2, 5] {
        let msg = invalid_msg(DType::F32, &vec![4; rank], max(pool(2, 2, 0, 1)));
        assert!(
            msg.contains("rank-3") && msg.contains(&format!("found rank {rank}")),
            "{msg}"
        );
    }
    let msg = invalid_msg(DType::Bool, &[1, 1, 4, 4], max(pool(2, 2, 0, 1)));
    assert!(msg.contains("float"), "{msg}");
    for (bad, what) in [
        (pool(0, 1, 0, 1), "kernel_size"),
        (pool(2, 0, 0, 1), "stride"),
        (pool(2, 1, -1, 1), "padding"),
        (pool(3, 1, 2, 1), "at most half"),
        (pool(2, 1, 0, 0), "dilation"),
    ] {
        let msg = invalid_msg(DType::F32, &[1, 1, 4, 4], max(bad));
        assert!(msg.contains(what), "{what}: {msg}");
    }
    let msg = invalid_msg(DType::F32, &[1, 1, 4, 4], |x| Op::AvgPool2d {
        x,
        params: pool(2, 1, 0, 2),
    });
    assert!(msg.contains("dilation"), "{msg}");
    let msg = invalid_msg(DType::F32, &[1, 1, 4, 4], |x| Op::AdaptiveMaxPool2d {
        x,
        output_size: [0, 2],
    });
    assert!(msg.contains("output_size"), "{msg}");
}

#[test]
fn layout_arguments_are_checked() {
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Permute {
        x,
        dims: vec![0, -2],
    });
    assert!(msg.contains("permutation"), "{msg}");
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Permute {
        x,
        dims: vec![1, 0, 2],
    });
    assert!(msg.contains("expected 2"), "{msg}");
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Transpose {
        x,
        dim0: 0,
        dim1: 2,
    });
    assert!(msg.contains("out of range"), "{msg}");
    valid(DType::F32, &[2, 3], |x| Op::Unsqueeze { x, dim: 2 });
    valid(DType::F32, &[2, 3], |x| Op::Unsqueeze { x, dim: -3 });
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Unsqueeze { x, dim: 3 });
    assert!(msg.contains("out of range"), "{msg}");
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Squeeze {
        x,
        dims: Some(vec![-3]),
    });
    assert!(msg.contains("out of range"), "{msg}");
    let msg = invalid_msg(DType::F32, &[6], |x| Op::Reshape {
        x,
        shape: vec![Dim::Fixed(-1), Dim::Fixed(-1)],
    });
    assert!(msg.contains("only one dim may be -1"), "{msg}");
    let msg = invalid_msg(DType::F32, &[2, 3], |x| Op::Expand {
        x,
        shape: fixed(&[3]),
    });
    assert!(msg.contains("smaller than the input's rank"), "{msg}");
    let msg = invalid_msg(DType::F32, &[3], |x| Op::Expand {
        x,
        shape: fixed(&[-1, 3]),
    });
    assert!(msg.contains("leading"), "{msg}");
}

#[test]
fn result_dtypes_follow_promotion() {
    // Rank and dtype errors downstream show that the intermediate types are right: a pool
    // after a comparison sees bool, after a cast sees f16.
    let mut g = Graph::new("t");
    let x = g
        .add_input("x", DType::F16, fixed(&[1, 1, 2, 2]))
        .expect("x");
    let c = g
        .add_op(
            "c",
            Op::Binary {
                op: BinaryOp::Gt,
                a: Operand::Value(x),
                b: Operand::Scalar(0.0),
            },
        )
        .expect("c");
    let p = g
        .add_op(
            "p",
            Op::MaxPool2d {
                x: c,
                params: pool(1, 1, 0, 1),
            },
        )
        .expect("p");
    g.set_outputs(vec![p]).expect("outputs");
    match validate(&g) {
        Err(IrError::Invalid { node, msg, .. }) => {
            assert_eq!(node, "p");
            assert!(msg.contains("bool"), "{msg}");
        }
        other => panic!("expected an error at p, got {other:?}"),
    }
    let mut g = Graph::new("t");
    let x = g
        .add_input("x", DType::Bool, fixed(&[1, 1, 2, 2]))
        .expect("x");
    let f = g
        .add_op(
            "f",
            Op::Unary {
                op: UnaryOp::Exp,
                x,
            },
        )
        .expect("f");
    let p = g
        .add_op(
            "p",
            Op::MaxPool2d {
                x: f,
                params: pool(1, 1, 0, 1),
            },
        )
        .expect("p");
    g.set_outputs(vec![p]).expect("outputs");
    validate(&g).expect("exp of bool is f32, which pools");
}

/// `value_info` answers from what the graph recorded as each node was added, and where a check
/// failed on the node or an operand it names the node that failed, as `validate` does.
#[test]
fn value_info_matches_validation_and_names_the_failing_node() {
    let g = kiln_ir::parse(
        "graph g\ninput x: f32[N, 3]\ninput i: i64[N]\na = relu(x)\ns = sum(a, dim=[1])\n\
         c = to(s, dtype=f64)\ny = add(c, i)\noutput y\n",
    )
    .expect("parses");
    let info = |name: &str| kiln_ir::value_info(&g, g.find(name).expect("node")).expect("info");
    assert_eq!((info("a").dtype, info("a").rank), (DType::F32, Some(2)));
    assert_eq!((info("s").dtype, info("s").rank), (DType::F32, Some(1)));
    assert_eq!(info("c").dtype, DType::F64);
    // f64 + i64 promotes to f64, as in PyTorch.
    assert_eq!((info("y").dtype, info("y").rank), (DType::F64, Some(1)));

    // Built by hand: the parser validates, and so refuses this graph.
    let mut bad = Graph::new("bad");
    let x = bad
        .add_input("x", DType::F32, fixed(&[2, 3]))
        .expect("input");
    let m = bad.add_op("m", Op::Softmax { x, dim: 5 }).expect("op");
    let relu = Op::Unary {
        op: UnaryOp::Relu,
        x: m,
    };
    bad.add_op("y", relu).expect("op");
    for name in ["m", "y"] {
        match kiln_ir::value_info(&bad, bad.find(name).expect("node")) {
            Err(IrError::Invalid { node, .. }) => assert_eq!(node, "m", "asked for {name}"),
            other => panic!("expected the softmax's error for {name}, got {other:?}"),
        }
    }
}
