//! Lowering of the gather ops to [`IndexCall`] library steps: the operands are materialised
//! contiguously, the call writes a contiguous buffer, and whatever reads the result loads from
//! it. A graph output that is a gather op is written by the call directly.
use kiln_ir::{NodeId, NodeKind, Op};
use kiln_shape::Expr;

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::lower::{Lowerer, norm_dim};

impl Lowerer<'_> {
    /// Whether `n` is computed by a gather-family library call.
    pub(crate) fn is_gather(&self, n: NodeId) -> bool {
        matches!(
            &self.g.node(n).kind,
            NodeKind::Op(
                Op::IndexSelect { .. }
                    | Op::Gather { .. }
                    | Op::ScatterAdd { .. }
                    | Op::IndexAdd { .. }
                    | Op::Embedding { .. }
                    | Op::MaxPool2dIndices { .. }
            )
        )
    }

    /// The value of gather node `n` at `idx`: computed once into a temporary buffer.
    pub(crate) fn emit_gather(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let buf = self.add_buffer(self.dtype(n), &shape, BufKind::Temp);
        self.lower_gather(n, buf)?;
        self.materialized.insert(n, buf);
        Ok(self.load(blk, buf, &shape, idx))
    }

    /// Pushes the library call computing gather node `n` into `out`.
    pub(crate) fn lower_gather(&mut self, n: NodeId, out: BufId) -> Result<(), SchedError> {
        let NodeKind::Op(op) = &self.g.node(n).kind else {
            unreachable!("lower_gather is called on gather nodes");
        };
        if let Op::MaxPool2dIndices { x, params } = *op {
            return self.lower_pool_indices(n, x, params, out);
        }
        let (kind, input, dim, index, src, alpha) = match *op {
            Op::IndexSelect { x, dim, index } => (IndexKind::IndexSelect, x, dim, index, None, 1.0),
            Op::Gather { x, dim, index } => (IndexKind::Gather, x, dim, index, None, 1.0),
            Op::ScatterAdd { x, dim, index, src } => {
                (IndexKind::ScatterAdd, x, dim, index, Some(src), 1.0)
            }
            Op::IndexAdd {
                x,
                dim,
                index,
                source,
                alpha,
            } => (IndexKind::IndexAdd, x, dim, index, Some(source), alpha),
            Op::Embedding {
                indices, weight, ..
            } => (IndexKind::IndexSelect, weight, 0, indices, None, 1.0),
            _ => unreachable!("lower_gather is called on gather nodes"),
        };
        let input_shape = self.shape(input).to_vec();
        let index_shape = self.shape(index).to_vec();
        let src_shape = src.map(|s| self.shape(s).to_vec()).unwrap_or_default();
        let ib = self.materialize(input)?;
        let xb = self.materialize(index)?;
        let sb = src.map(|s| self.materialize(s)).transpose()?;
        let call = IndexCall {
            name: format!(
                "{}{}_{}",
                op_tag(kind),
                self.kernel_count(),
                self.g.node(n).name
            ),
            node: self.g.node(n).name.clone(),
            kind,
            dtype: self.dtype(n),
            input: ib,
            index: xb,
            src: sb,
            out,
            dim: norm_dim(dim, input_shape.len()),
            input_shape,
            index_shape,
            src_shape,
            alpha,
        };
        self.push_library(LibraryCall::Index(Box::new(call)));
        Ok(())
    }
}

fn op_tag(kind: IndexKind) -> &'static str {
    match kind {
        IndexKind::IndexSelect => "index_select",
        IndexKind::Gather => "gather",
        IndexKind::ScatterAdd => "scatter_add",
        IndexKind::IndexAdd => "index_add",
    }
}

impl Lowerer<'_> {
    /// Pushes the library call computing `max_pool2d_indices(x)` (node `n`) into `out`.
    fn lower_pool_indices(
        &mut self,
        n: NodeId,
        x: NodeId,
        params: kiln_ir::Pool2d,
        out: BufId,
    ) -> Result<(), SchedError> {
        let (xs, ys) = (self.shape(x).to_vec(), self.shape(n).to_vec());
        let r = xs.len();
        let planes = xs[..r - 2].iter().fold(Expr::int(1), |a, d| &a * d);
        let xb = self.materialize(x)?;
        let call = PoolIndicesCall {
            name: format!(
                "max_pool2d_indices{}_{}",
                self.kernel_count(),
                self.g.node(n).name
            ),
            dtype: self.dtype(x),
            x: xb,
            out,
            planes,
            h: xs[r - 2].clone(),
            w: xs[r - 1].clone(),
            oh: ys[r - 2].clone(),
            ow: ys[r - 1].clone(),
            params,
        };
        self.push_library(LibraryCall::PoolIndices(Box::new(call)));
        Ok(())
    }
}
