//! Helpers shared by kiln-ir's integration tests (interpreter, shape inference, parsing):
//! building small graphs and op parameters, and comparing results with NaN-aware tolerance.
#![allow(dead_code)] // Each test crate uses a different subset.

use kiln_ir::{BinaryOp, DType, Graph, IrError, NodeId, Op, Operand, Pool2d, Tensor, interpret};
use kiln_shape::Dim;

pub fn fixed(dims: &[i64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Fixed(d)).collect()
}

pub fn sym(names: &[&str]) -> Vec<Dim> {
    names
        .iter()
        .map(|n| match n.parse::<i64>() {
            Ok(v) => Dim::Fixed(v),
            Err(_) => Dim::Sym((*n).to_string()),
        })
        .collect()
}

/// Pooling parameters: kernel, stride, padding and dilation as [H, W], then the two flags.
pub fn pool2d_params(
    k: [i64; 2],
    s: [i64; 2],
    p: [i64; 2],
    d: [i64; 2],
    ceil: bool,
    cip: bool,
) -> Pool2d {
    Pool2d {
        kernel_size: k,
        stride: s,
        padding: p,
        dilation: d,
        ceil_mode: ceil,
        count_include_pad: cip,
        divisor_override: None,
    }
}

/// A graph `y = op(a, b)` of two inputs `a` and `b`, each given as (dtype, dims).
pub fn binary_graph(op: BinaryOp, a: (DType, Vec<Dim>), b: (DType, Vec<Dim>)) -> Graph {
    let mut g = Graph::new("t");
    let a = g.add_input("a", a.0, a.1).expect("a");
    let b = g.add_input("b", b.0, b.1).expect("b");
    let y = g
        .add_op(
            "y",
            Op::Binary {
                op,
                a: Operand::Value(a),
                b: Operand::Value(b),
            },
        )
        .expect("op");
    g.set_outputs(vec![y]).expect("outputs");
    g
}

/// A graph with one input `x` of `dtype`/`dims` and one op built from it, output `y`.
pub fn single_op(dtype: DType, dims: Vec<Dim>, op: impl FnOnce(NodeId) -> Op) -> Graph {
    let mut g = Graph::new("t");
    let x = g.add_input("x", dtype, dims).expect("input");
    let y = g.add_op("y", op(x)).expect("op");
    g.set_outputs(vec![y]).expect("outputs");
    g
}

/// Runs a graph with a single output.
pub fn run1(g: &Graph, inputs: &[Tensor]) -> Result<Tensor, IrError> {
    let mut out = interpret(g, inputs)?;
    assert_eq!(out.len(), 1, "expected one output");
    Ok(out.remove(0))
}

pub fn t(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, values)
}

/// Equal up to `rel` relative error (or `rel` absolute near 0); NaN equals NaN; infinities and
/// signs must match exactly.
pub fn assert_close(got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= rel * w.abs().max(1.0)
        };
        assert!(
            ok,
            "element {i}: got {g}, want {w} (got {got:?}, want {want:?})"
        );
    }
}
