//! The data movement composites of the text format: `stack`, and `split`/`chunk`, which
//! return one value per assigned name (`a, b = chunk(x, 2)`).
use super::super::bind::{Bound, Signature};
use super::super::ops::movement::{split_sizes, value_list};
use super::{CompositeDef, expect_results};
use crate::build::movement as build;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::Split;

pub(crate) const COMPOSITES: &[CompositeDef] = &[
    CompositeDef {
        name: "stack",
        signature: Signature {
            params: &["tensors", "dim"],
            required: 1,
        },
        build: stack,
    },
    CompositeDef {
        name: "split",
        signature: Signature {
            params: &["tensor", "split_size_or_sections", "dim"],
            required: 2,
        },
        build: split,
    },
    CompositeDef {
        name: "chunk",
        signature: Signature {
            params: &["input", "chunks", "dim"],
            required: 2,
        },
        build: chunk,
    },
];

fn names(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn stack(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, out, 1, "one tensor")?;
    let xs = value_list(b, g, "tensors")?;
    let dim = b.opt_int("dim")?.unwrap_or(0);
    Ok(vec![build::stack(g, &out[0], &xs, dim)?])
}

fn split(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    let x = b.value(g, "tensor")?;
    let sizes = split_sizes(b, "split_size_or_sections")?;
    if let Split::Sections(v) = &sizes {
        expect_results(b, out, v.len(), "one tensor per section")?;
    }
    let dim = b.opt_int("dim")?.unwrap_or(0);
    build::split(g, &names(out), x, sizes, dim)
}

fn chunk(b: &Bound, g: &mut Graph, out: &[String]) -> Result<Vec<NodeId>, IrError> {
    let x = b.value(g, "input")?;
    let chunks = b.int("chunks")?;
    let dim = b.opt_int("dim")?.unwrap_or(0);
    build::chunk(g, &names(out), x, chunks, dim)
}
