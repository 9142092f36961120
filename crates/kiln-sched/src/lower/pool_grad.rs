//! Lowering of the pool backward family to [`PoolBackward`] library calls: `grad_output` (and,
//! for the max variants, the forward input) is materialised contiguously and the call writes
//! the whole input gradient into a buffer of its own, which later kernels load (a graph output
//! is written directly). A scatter rather than a loop nest: each input gradient element of a
//! max pool sums over the windows whose maximum it is, a reduction inside a reduction, which
//! the kernel IR has no form for.
use kiln_ir::{NodeId, NodeKind, Op};

use super::{Lowerer, numel};
use crate::error::SchedError;
use crate::ir::*;

impl Lowerer<'_> {
    /// Whether `n` is computed by a pool backward library call.
    pub(crate) fn is_pool_grad(&self, n: NodeId) -> bool {
        matches!(
            &self.g.node(n).kind,
            NodeKind::Op(
                Op::MaxPool2dBackward { .. }
                    | Op::AvgPool2dBackward { .. }
                    | Op::AdaptiveAvgPool2dBackward { .. }
                    | Op::AdaptiveMaxPool2dBackward { .. }
            )
        )
    }

    /// Pushes the library call computing pool backward node `n` into `out`.
    pub(crate) fn lower_pool_grad(&mut self, n: NodeId, out: BufId) -> Result<(), SchedError> {
        let NodeKind::Op(op) = &self.g.node(n).kind else {
            unreachable!("lower_pool_grad is called on pool backward nodes");
        };
        let (grad_output, input, kind) = match *op {
            Op::MaxPool2dBackward {
                grad_output,
                input,
                params,
            } => (grad_output, input, PoolBackwardKind::MaxPool2d(params)),
            Op::AvgPool2dBackward {
                grad_output,
                input,
                params,
            } => (grad_output, input, PoolBackwardKind::AvgPool2d(params)),
            Op::AdaptiveAvgPool2dBackward { grad_output, input } => {
                (grad_output, input, PoolBackwardKind::AdaptiveAvgPool2d)
            }
            Op::AdaptiveMaxPool2dBackward { grad_output, input } => {
                (grad_output, input, PoolBackwardKind::AdaptiveMaxPool2d)
            }
            _ => unreachable!("lower_pool_grad is called on pool backward nodes"),
        };
        let go = self.materialize(grad_output)?;
        // The average backward reads only the input's shape: its data is never materialised.
        let xb = if kind.reads_input() {
            Some(self.materialize(input)?)
        } else {
            None
        };
        let (xs, gs) = (self.shape(input).to_vec(), self.shape(grad_output).to_vec());
        let (lead, hw) = xs.split_at(xs.len() - 2);
        let call = PoolBackward {
            name: format!("pool_grad{}_{}", self.kernel_count(), self.g.node(n).name),
            dtype: self.dtype(n),
            kind,
            grad_output: go,
            input: xb,
            out,
            planes: numel(lead),
            in_hw: [hw[0].clone(), hw[1].clone()],
            out_hw: [gs[gs.len() - 2].clone(), gs[gs.len() - 1].clone()],
        };
        self.push_library(LibraryCall::PoolBackward(Box::new(call)));
        Ok(())
    }
}
