//! Lowering of `flatten` and `unflatten` (the nn family's layout primitives): index rewrites,
//! never a copy. Only the merged (or split) dims are re-indexed, so the dims around them keep
//! their plain loop variables and the index arithmetic stays as simple as the op allows.
use kiln_shape::Expr;

use super::emit::delinearize;
use super::{KernelCtx, Lowerer, contiguous_offset, norm_dim};
use crate::block::Block;
use crate::error::SchedError;
use crate::ir::{ScalarOp, ValueId};
use kiln_ir::NodeId;

impl Lowerer<'_> {
    /// Node `n` = `flatten(x, start_dim, end_dim)` or `unflatten(x, dim, ...)` at `idx`.
    pub(crate) fn emit_flatten(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        x: NodeId,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        // Both ops keep C order: a materialised input is read at the result's own flat offset.
        if let Some(&b) = self.materialized.get(&x) {
            let offset = contiguous_offset(self.shape(n), idx);
            let dtype = self.buffers[b as usize].dtype;
            return Ok(blk.push(ScalarOp::Load { buf: b, offset }, dtype));
        }
        let xs = self.shape(x).to_vec();
        let xi = match self.g.node(n).kind {
            kiln_ir::NodeKind::Op(kiln_ir::Op::Flatten {
                start_dim, end_dim, ..
            }) => flatten_idx(&xs, idx, start_dim, end_dim),
            kiln_ir::NodeKind::Op(kiln_ir::Op::Unflatten { dim, .. }) => {
                let split = self.shape(n).len() + 1 - xs.len();
                unflatten_idx(self.shape(n), idx, norm_dim(dim, xs.len()), split)
            }
            _ => unreachable!("emit_flatten is called for flatten and unflatten only"),
        };
        self.emit(blk, x, &xi, ctx)
    }
}

/// The input index of `flatten`'s result index `idx`: the merged dim is split back.
fn flatten_idx(xs: &[Expr], idx: &[Expr], start: i64, end: i64) -> Vec<Expr> {
    if xs.is_empty() {
        return Vec::new();
    }
    let (s, e) = (norm_dim(start, xs.len()), norm_dim(end, xs.len()));
    let mut xi = idx[..s].to_vec();
    xi.extend(delinearize(&xs[s..=e], &idx[s]));
    xi.extend_from_slice(&idx[s + 1..]);
    xi
}

/// The input index of `unflatten`'s result index `idx`: the `split` dims from `d` merge.
fn unflatten_idx(out: &[Expr], idx: &[Expr], d: usize, split: usize) -> Vec<Expr> {
    let mut xi = idx[..d].to_vec();
    xi.push(contiguous_offset(&out[d..d + split], &idx[d..d + split]));
    xi.extend_from_slice(&idx[d + split..]);
    xi
}
