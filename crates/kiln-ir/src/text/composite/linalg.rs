//! The text format's linear-algebra composites, PyTorch's signatures: `matmul(input, other)`,
//! `mm(input, mat2)`, `bmm(input, mat2)`, `linear(input, weight, bias=None)` and
//! `addmm(input, mat1, mat2, beta=1, alpha=1)`. Each returns one value.
use super::{CompositeDef, expect_results};
use crate::build::linalg;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::parse::text::bind::{Bound, Signature};

const fn sig(params: &'static [&'static str], required: usize) -> Signature {
    Signature { params, required }
}

/// A two-operand product (`matmul`, `mm`, `bmm`) read as `(input, <second>)`.
fn pair(
    b: &Bound,
    g: &mut Graph,
    names: &[String],
    second: &str,
    f: fn(&mut Graph, &str, NodeId, NodeId) -> Result<NodeId, IrError>,
) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    let (x, y) = (b.value(g, "input")?, b.value(g, second)?);
    Ok(vec![f(g, &names[0], x, y)?])
}

fn matmul(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    pair(b, g, names, "other", linalg::matmul)
}

fn mm(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    pair(b, g, names, "mat2", linalg::mm)
}

fn bmm(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    pair(b, g, names, "mat2", linalg::bmm)
}

fn linear(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    let (x, w) = (b.value(g, "input")?, b.value(g, "weight")?);
    let bias = b.opt_value(g, "bias")?;
    Ok(vec![linalg::linear(g, &names[0], x, w, bias)?])
}

fn addmm(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    let input = b.value(g, "input")?;
    let (m1, m2) = (b.value(g, "mat1")?, b.value(g, "mat2")?);
    let (beta, alpha) = (b.float_or("beta", 1.0)?, b.float_or("alpha", 1.0)?);
    Ok(vec![linalg::addmm(
        g, &names[0], input, m1, m2, beta, alpha,
    )?])
}

pub(super) const COMPOSITES: &[CompositeDef] = &[
    CompositeDef {
        name: "matmul",
        signature: sig(&["input", "other"], 2),
        build: matmul,
    },
    CompositeDef {
        name: "mm",
        signature: sig(&["input", "mat2"], 2),
        build: mm,
    },
    CompositeDef {
        name: "bmm",
        signature: sig(&["input", "mat2"], 2),
        build: bmm,
    },
    CompositeDef {
        name: "linear",
        signature: sig(&["input", "weight", "bias"], 2),
        build: linear,
    },
    CompositeDef {
        name: "addmm",
        signature: sig(&["input", "mat1", "mat2", "beta", "alpha"], 3),
        build: addmm,
    },
];
