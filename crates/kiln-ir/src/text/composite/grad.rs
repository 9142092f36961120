//! The gradient family's composites in the text format: `select_scatter` (PyTorch's, an
//! unsqueeze and a `slice_scatter`) and the fills `zeros_like`, `ones_like`,
//! `full_like(input, fill_value)` (a 0-d constant expanded to the input's shape; `dtype=`
//! defaults to the input's dtype, as in PyTorch).
use super::super::bind::{Bound, Signature};
use super::{CompositeDef, expect_results};
use crate::build::grad as build;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};

const LIKE: Signature = Signature {
    params: &["input", "dtype"],
    required: 1,
};

pub(crate) const COMPOSITES: &[CompositeDef] = &[
    CompositeDef {
        name: "select_scatter",
        signature: Signature {
            params: &["input", "src", "dim", "index"],
            required: 4,
        },
        build: select_scatter,
    },
    CompositeDef {
        name: "zeros_like",
        signature: LIKE,
        build: zeros_like,
    },
    CompositeDef {
        name: "ones_like",
        signature: LIKE,
        build: ones_like,
    },
    CompositeDef {
        name: "full_like",
        signature: Signature {
            params: &["input", "fill_value", "dtype"],
            required: 2,
        },
        build: full_like,
    },
];

fn select_scatter(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, out, 1, "one tensor")?;
    let (input, src) = (b.value(g, "input")?, b.value(g, "src")?);
    let (dim, index) = (b.int("dim")?, b.int("index")?);
    Ok(vec![build::select_scatter(
        g, &out[0], input, src, dim, index,
    )?])
}

/// A fill of `value` shaped like the statement's `input`, in `dtype=` or the input's dtype.
fn fill(b: &Bound, g: &mut Graph, out: &[String], value: f64) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, out, 1, "one tensor")?;
    let like = b.value(g, "input")?;
    let dtype = match b.opt_raw("dtype") {
        Some(_) => b.dtype("dtype")?,
        None => crate::infer::value_info(g, like)?.dtype,
    };
    Ok(vec![build::full_like(g, &out[0], like, value, dtype)?])
}

fn zeros_like(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    fill(b, g, out, 0.0)
}

fn ones_like(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    fill(b, g, out, 1.0)
}

fn full_like(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    let value = b.float_or("fill_value", 0.0)?;
    fill(b, g, out, value)
}
