//! The index family's composites: `max`/`min` with a dim (values and indices), and over all
//! elements; `max_pool2d` with its indices.
use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::infer::value_info;
use crate::op::{Op, Pool2d, ReduceOp};

/// `torch.max(input, dim, keepdim=False)`: `(values, indices)`, named `names[0]` and
/// `names[1]`: `amax` along `dim` and the i64 `argmax` (a NaN is the maximum, and its first
/// position the index, as in torch).
pub fn max_dim(
    g: &mut Graph,
    names: [&str; 2],
    x: NodeId,
    dim: i64,
    keepdim: bool,
) -> Result<(NodeId, NodeId), IrError> {
    extreme_dim(g, names, x, dim, keepdim, true)
}

/// `torch.min(input, dim, keepdim=False)`: `(values, indices)`, as [`max_dim`].
pub fn min_dim(
    g: &mut Graph,
    names: [&str; 2],
    x: NodeId,
    dim: i64,
    keepdim: bool,
) -> Result<(NodeId, NodeId), IrError> {
    extreme_dim(g, names, x, dim, keepdim, false)
}

/// `torch.max(input)` (`largest`) or `torch.min(input)`: the extreme of all elements, a 0-d
/// tensor (`amax`/`amin` over every dim).
pub fn extreme_all(g: &mut Graph, name: &str, x: NodeId, largest: bool) -> Result<NodeId, IrError> {
    let op = if largest {
        ReduceOp::Amax
    } else {
        ReduceOp::Amin
    };
    g.add_op(
        name,
        Op::Reduce {
            op,
            x,
            dims: Vec::new(),
            keepdim: false,
        },
    )
}

fn extreme_dim(
    g: &mut Graph,
    names: [&str; 2],
    x: NodeId,
    dim: i64,
    keepdim: bool,
    largest: bool,
) -> Result<(NodeId, NodeId), IrError> {
    let op = if largest {
        ReduceOp::Amax
    } else {
        ReduceOp::Amin
    };
    let values = g.add_op(
        names[0],
        Op::Reduce {
            op,
            x,
            dims: vec![dim],
            keepdim,
        },
    )?;
    // torch.max(bool, dim) works although argmax(bool) does not: the indices of the 0/1
    // values are those of their i64 copy.
    let src = if value_info(g, x)?.dtype == DType::Bool {
        let name = g.fresh_name(&format!("{}_part", names[1]));
        g.add_op(
            &name,
            Op::Cast {
                x,
                dtype: DType::I64,
            },
        )?
    } else {
        x
    };
    let dim = Some(dim);
    let index_op = if largest {
        Op::ArgMax {
            x: src,
            dim,
            keepdim,
        }
    } else {
        Op::ArgMin {
            x: src,
            dim,
            keepdim,
        }
    };
    let indices = g.add_op(names[1], index_op)?;
    Ok((values, indices))
}

/// `max_pool2d(x, ..., return_indices=True)`: `(values, indices)`, named `names[0]` and
/// `names[1]`; the indices are i64 flat `h * W + w` positions within each plane, as torch's.
pub fn max_pool2d_with_indices(
    g: &mut Graph,
    names: [&str; 2],
    x: NodeId,
    params: Pool2d,
) -> Result<(NodeId, NodeId), IrError> {
    let values = g.add_op(names[0], Op::MaxPool2d { x, params })?;
    let indices = g.add_op(names[1], Op::MaxPool2dIndices { x, params })?;
    Ok((values, indices))
}
