//! The graph builder's composite ops: PyTorch functions that kiln expands, once and here, into
//! its primitive ops (`linear(x, w, b)` is `add(matmul(x, transpose(w)), b)`), for every front
//! end alike (the text format, the ONNX importer, the Python and `torch.compile` front ends,
//! the autodiff). Primitive ops are [`crate::Op`] and are added with [`Graph::add_op`].
//!
//! Each family has one module here. A function adds the op's result under `name` (the
//! statement's name in the text format) and any intermediate node under
//! `g.fresh_name("{name}_{part}")`, and returns the result's id; ops with several results take
//! one name per result. Arguments are checked as PyTorch checks them, with errors that name
//! the node ([`IrError::Invalid`]); shapes are checked later by shape inference, on the
//! primitive the error concerns.
pub mod activation;
pub mod conv;
pub mod grad;
pub mod index;
pub mod linalg;
pub mod norm;
mod parts;

use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::infer::{ValueInfo, value_info};

/// The dtype and rank of `id`, or an error naming `name` (the node being built) when its rank
/// depends on sizes (after `squeeze()` of a symbolic dim).
pub fn known_rank(
    g: &Graph,
    name: &str,
    op: &str,
    id: NodeId,
) -> Result<(ValueInfo, usize), IrError> {
    let info = value_info(g, id)?;
    let rank = info.rank.ok_or_else(|| IrError::Invalid {
        node: name.to_string(),
        op: op.to_string(),
        msg: format!(
            "the rank of operand '{}' depends on sizes; {op} needs it",
            g.node(id).name
        ),
    })?;
    Ok((info, rank))
}

pub mod movement;
