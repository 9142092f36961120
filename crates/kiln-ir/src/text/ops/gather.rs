//! The text forms of the gather ops: `index_select(input, dim, index)`,
//! `gather(input, dim, index)`, `scatter_add(input, dim, index, src)` and
//! `index_add(input, dim, index, source, alpha=1)` and `embedding(input, weight,
//! padding_idx=None)` (indices first), PyTorch's argument names and order.
use super::super::bind::{Bound, Signature};
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::Op;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Form {
    IndexSelect,
    Gather,
    ScatterAdd,
    IndexAdd,
    Embedding,
    /// `max_pool2d_indices(input, kernel_size, ...)`: what the printer writes for the indices
    /// of `max_pool2d(..., return_indices=true)`.
    MaxPool2dIndices,
}

impl Form {
    pub(crate) fn by_name(name: &str) -> Option<Form> {
        Some(match name {
            "index_select" => Form::IndexSelect,
            "gather" => Form::Gather,
            "scatter_add" => Form::ScatterAdd,
            "index_add" => Form::IndexAdd,
            "embedding" => Form::Embedding,
            "max_pool2d_indices" => Form::MaxPool2dIndices,
            _ => return None,
        })
    }

    pub(crate) fn signature(self) -> Signature {
        let sig = |params: &'static [&'static str], required| Signature { params, required };
        match self {
            Form::IndexSelect | Form::Gather => sig(&["input", "dim", "index"], 3),
            Form::ScatterAdd => sig(&["input", "dim", "index", "src"], 4),
            Form::IndexAdd => sig(&["input", "dim", "index", "source", "alpha"], 4),
            Form::Embedding => sig(&["input", "weight", "padding_idx"], 2),
            Form::MaxPool2dIndices => super::OpForm::MaxPool2d.signature(),
        }
    }

    pub(crate) fn build(self, b: &Bound, g: &Graph) -> Result<Op, IrError> {
        if self == Form::MaxPool2dIndices {
            return Ok(Op::MaxPool2dIndices {
                x: b.value(g, "input")?,
                params: super::pool_params(b, true)?,
            });
        }
        if self == Form::Embedding {
            return Ok(Op::Embedding {
                indices: b.value(g, "input")?,
                weight: b.value(g, "weight")?,
                padding_idx: b.opt_int("padding_idx")?,
            });
        }
        let (x, dim, index) = (b.value(g, "input")?, b.int("dim")?, b.value(g, "index")?);
        Ok(match self {
            Form::IndexSelect => Op::IndexSelect { x, dim, index },
            Form::Gather => Op::Gather { x, dim, index },
            Form::ScatterAdd => Op::ScatterAdd {
                x,
                dim,
                index,
                src: b.value(g, "src")?,
            },
            Form::IndexAdd => Op::IndexAdd {
                x,
                dim,
                index,
                source: b.value(g, "source")?,
                alpha: b.float_or("alpha", 1.0)?,
            },
            Form::Embedding | Form::MaxPool2dIndices => unreachable!("built above"),
        })
    }
}
