//! Builders of the gradient family ([`Op::SumTo`], [`Op::ExpandAs`], [`Op::ReshapeAs`],
//! [`Op::SliceScatter`]) and the fills backward graphs start from (`zeros_like`,
//! `full_like`), each a node named `name`.
use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{Op, SliceBounds};
use crate::tensor::Tensor;

/// `sum_to(x, like)`: `x` summed down to `like`'s shape.
pub fn sum_to(g: &mut Graph, name: &str, x: NodeId, like: NodeId) -> Result<NodeId, IrError> {
    g.add_op(name, Op::SumTo { x, like })
}

/// `expand_as(x, like)`.
pub fn expand_as(g: &mut Graph, name: &str, x: NodeId, like: NodeId) -> Result<NodeId, IrError> {
    g.add_op(name, Op::ExpandAs { x, like })
}

/// `reshape_as(x, like)`.
pub fn reshape_as(g: &mut Graph, name: &str, x: NodeId, like: NodeId) -> Result<NodeId, IrError> {
    g.add_op(name, Op::ReshapeAs { x, like })
}

/// `slice_scatter(input, src, dim, bounds)`.
pub fn slice_scatter(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    src: NodeId,
    dim: i64,
    bounds: SliceBounds,
) -> Result<NodeId, IrError> {
    g.add_op(
        name,
        Op::SliceScatter {
            input,
            src,
            dim,
            bounds,
        },
    )
}

/// `full_like(like, value, dtype)`: a 0-d constant expanded to `like`'s shape (the scheduler
/// fuses it into its users; nothing is materialised).
pub fn full_like(
    g: &mut Graph,
    name: &str,
    like: NodeId,
    value: f64,
    dtype: DType,
) -> Result<NodeId, IrError> {
    let scalar = Tensor::from_f64(dtype, &[], &[value]);
    let c = g.add_constant(&g.fresh_name(&format!("{name}_value")), scalar)?;
    expand_as(g, name, c, like)
}

/// `zeros_like(like, dtype)`.
pub fn zeros_like(
    g: &mut Graph,
    name: &str,
    like: NodeId,
    dtype: DType,
) -> Result<NodeId, IrError> {
    full_like(g, name, like, 0.0, dtype)
}

/// `ones_like(like, dtype)`.
pub fn ones_like(g: &mut Graph, name: &str, like: NodeId, dtype: DType) -> Result<NodeId, IrError> {
    full_like(g, name, like, 1.0, dtype)
}

/// `select_scatter(input, src, dim, index)` (`torch.select_scatter`): `input` with `src`
/// (input's shape without `dim`) written at `index` of `dim`, the adjoint of `select`. It is
/// `src` unsqueezed at `dim` and scattered into the one-element narrow at `index` (a negative
/// index counts from the end, as narrow's start does).
pub fn select_scatter(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    src: NodeId,
    dim: i64,
    index: i64,
) -> Result<NodeId, IrError> {
    let u = g.add_op(
        &g.fresh_name(&format!("{name}_src")),
        Op::Unsqueeze { x: src, dim },
    )?;
    let bounds = SliceBounds::Narrow {
        start: index,
        length: 1,
    };
    slice_scatter(g, name, input, u, dim, bounds)
}

/// `cat_part(x, parts, dim, index)`: block `index` of `x`, cut along `dim` as `cat(parts, dim)`
/// joined it.
pub fn cat_part(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    parts: Vec<NodeId>,
    dim: i64,
    index: usize,
) -> Result<NodeId, IrError> {
    g.add_op(
        name,
        Op::CatPart {
            x,
            parts,
            dim,
            index,
        },
    )
}
