//! Emitting a node's value at an index into a kernel body: elementwise ops become scalar
//! instructions, layout ops rewrite the index, reductions and pools fuse into the kernel's
//! loop or are materialised (see the module docs of `lower.rs`).
use kiln_ir::{DType, NodeId, NodeKind, Op, Operand};
use kiln_shape::Expr;

use super::dtypes::{self, operand_dtype, push_rounded, rounded};
use super::{KernelCtx, Lowerer, Post, contiguous_offset, grad, norm_dim, outer_idx};
use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::pool::reduction_of;

impl Lowerer<'_> {
    pub(crate) fn load(
        &mut self,
        blk: &mut Block,
        buf: BufId,
        shape: &[Expr],
        idx: &[Expr],
    ) -> ValueId {
        let dtype = self.buffers[buf as usize].dtype;
        blk.push(
            ScalarOp::Load {
                buf,
                offset: contiguous_offset(shape, idx),
            },
            dtype,
        )
    }

    fn operand(
        &mut self,
        blk: &mut Block,
        o: &Operand,
        out_shape: &[Expr],
        idx: &[Expr],
        dtype: DType,
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        match *o {
            Operand::Scalar(v) => Ok(blk.constant(v, dtype)),
            Operand::Value(n) => {
                let shape = self.shape(n).to_vec();
                let bidx = self.broadcast_idx(n, &shape, out_shape, idx)?;
                let v = self.emit(blk, n, &bidx, ctx)?;
                Ok(blk.cast(v, dtype))
            }
        }
    }

    /// Emits the value of node `n` at index `idx` (one Expr per dim of `n`) into `blk`.
    /// `ctx` is the enclosing kernel when `blk` is its body (so a reduction may fuse into it),
    /// `None` inside a reduction loop.
    pub fn emit(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        if self.materialized.contains_key(&n) {
            return self.load_materialized(blk, n, idx);
        }
        let op = match &self.g.node(n).kind {
            NodeKind::Input(_) => unreachable!("inputs are materialised before lowering"),
            NodeKind::Constant(t) if t.shape.is_empty() => {
                let v = t.to_f64()[0];
                return Ok(blk.constant(v, t.dtype));
            }
            NodeKind::Constant(_) => return self.load_materialized(blk, n, idx),
            NodeKind::Op(_) if self.reemit_too_costly(n, ctx.as_ref().map(|c| c.1)) => {
                return self.load_materialized(blk, n, idx);
            }
            NodeKind::Op(op) => op.clone(),
        };
        let shape = self.shape(n).to_vec();
        if let Op::Reshape { x, .. } | Op::ReshapeAs { x, .. } = op
            && let Some(&b) = self.materialized.get(&x)
        {
            // A materialised source is read at the flat offset itself.
            let dtype = self.buffers[b as usize].dtype;
            let offset = contiguous_offset(&shape, idx);
            return Ok(blk.push(ScalarOp::Load { buf: b, offset }, dtype));
        }
        if let Some((x, xi)) = self.layout_source(n, &op, idx)? {
            return self.emit(blk, x, &xi, ctx);
        }
        match op {
            Op::Unary { .. } | Op::Binary { .. } | Op::Where { .. } | Op::Cast { .. } => {
                self.emit_elementwise(blk, n, &op, idx, ctx)
            }
            Op::Reduce { .. }
            | Op::MaxPool2d { .. }
            | Op::AvgPool2d { .. }
            | Op::AdaptiveAvgPool2d { .. }
            | Op::AdaptiveMaxPool2d { .. }
            | Op::ArgMax { .. }
            | Op::ArgMin { .. }
            | Op::CumSum { .. } => self.emit_reduction(blk, n, idx, ctx),
            Op::Softmax { x, dim } => self.emit_softmax(blk, n, x, dim, idx, ctx),
            Op::Conv { .. } | Op::ConvTranspose2d { .. } => self.emit_conv(blk, n, idx),
            Op::ConvBackwardInput { .. } | Op::ConvBackwardWeight { .. } => {
                self.emit_conv(blk, n, idx)
            }
            // A library call writes the product (the pool gradient) into a buffer of its own.
            Op::MatMul { .. }
            | Op::MaxPool2dBackward { .. }
            | Op::AvgPool2dBackward { .. }
            | Op::AdaptiveAvgPool2dBackward { .. }
            | Op::AdaptiveMaxPool2dBackward { .. } => {
                let b = self.materialize(n)?;
                Ok(self.load(blk, b, &shape, idx))
            }
            Op::Flatten { x, .. } | Op::Unflatten { x, .. } => {
                self.emit_flatten(blk, n, x, idx, ctx)
            }
            Op::Cat { .. }
            | Op::Slice { .. }
            | Op::Select { .. }
            | Op::Pad { .. }
            | Op::Repeat { .. } => self.emit_movement(blk, n, &op, idx, ctx),
            Op::IndexSelect { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::IndexAdd { .. }
            | Op::Embedding { .. }
            | Op::MaxPool2dIndices { .. } => self.emit_gather(blk, n, idx),
            // Nothing to sum: the result is `x` itself, read at the same index.
            Op::SumTo { x, .. } if self.sum_to_dims(n)?.is_empty() => self.emit(blk, x, idx, ctx),
            Op::SumTo { .. } => self.emit_reduction(blk, n, idx, ctx),
            Op::SliceScatter { .. } => {
                let b = self.materialize(n)?;
                Ok(self.load(blk, b, &shape, idx))
            }
            // Rewritten by `layout_source` above.
            Op::Reshape { .. }
            | Op::ReshapeAs { .. }
            | Op::Permute { .. }
            | Op::Transpose { .. }
            | Op::Unsqueeze { .. }
            | Op::Squeeze { .. }
            | Op::Expand { .. }
            | Op::ExpandAs { .. }
            | Op::CatPart { .. } => Err(self.misrouted(n)),
        }
    }

    /// For a layout op (reshape, permute, transpose, squeeze, expand, a part of a `cat`), the
    /// operand and the index it is read at: layout ops only rewrite the index, never copy.
    /// `None` for every other op.
    fn layout_source(
        &mut self,
        n: NodeId,
        op: &Op,
        idx: &[Expr],
    ) -> Result<Option<(NodeId, Vec<Expr>)>, SchedError> {
        let shape = self.shape(n).to_vec();
        Ok(Some(match *op {
            Op::Reshape { x, .. } | Op::ReshapeAs { x, .. } => {
                let flat = contiguous_offset(&shape, idx);
                let src = self.shape(x).to_vec();
                (x, delinearize(&src, &flat))
            }
            Op::Permute { x, ref dims } => {
                let r = dims.len();
                let mut xi = vec![Expr::int(0); r];
                for (o, &d) in dims.iter().enumerate() {
                    xi[norm_dim(d, r)] = idx[o].clone();
                }
                (x, xi)
            }
            Op::Transpose { x, dim0, dim1 } => {
                let r = idx.len();
                let mut xi = idx.to_vec();
                // A 0-d tensor accepts dims 0 and -1 and transposes to itself.
                if r > 0 {
                    xi.swap(norm_dim(dim0, r), norm_dim(dim1, r));
                }
                (x, xi)
            }
            Op::Unsqueeze { x, dim } => {
                let mut xi = idx.to_vec();
                xi.remove(norm_dim(dim, idx.len()));
                (x, xi)
            }
            Op::Squeeze { x, ref dims } => {
                let xs = self.shape(x).to_vec();
                let removed = kiln_ir::infer::squeezed_dims(self.env, &xs, dims.as_deref())
                    .map_err(|source| self.shape_error(n, source))?;
                let mut outer = idx.iter();
                let xi: Vec<Expr> = removed
                    .iter()
                    .map(|&r| {
                        if r {
                            Expr::int(0)
                        } else {
                            outer.next().expect("rank checked by inference").clone()
                        }
                    })
                    .collect();
                (x, xi)
            }
            Op::Expand { x, .. } | Op::ExpandAs { x, .. } => {
                let xs = self.shape(x).to_vec();
                let xi = self.broadcast_idx(n, &xs, &shape, idx)?;
                (x, xi)
            }
            Op::CatPart {
                x,
                ref parts,
                dim,
                index,
            } => {
                let d = norm_dim(dim, idx.len());
                let shapes: Vec<Vec<Expr>> =
                    parts.iter().map(|&p| self.shape(p).to_vec()).collect();
                let refs: Vec<&[Expr]> = shapes.iter().map(Vec::as_slice).collect();
                let mut xi = idx.to_vec();
                xi[d] = &kiln_ir::infer::cat_part_offset(&refs, d, index) + &idx[d];
                (x, xi)
            }
            _ => return Ok(None),
        }))
    }

    /// An elementwise op's value at `idx`, its operands broadcast to its shape and cast to the
    /// compute type.
    fn emit_elementwise(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        op: &Op,
        idx: &[Expr],
        mut ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        let out = self.dtype(n);
        let shape = self.shape(n).to_vec();
        match *op {
            Op::Unary { op, x } => {
                let xv = self.emit(blk, x, idx, reborrow(&mut ctx))?;
                let xv = blk.cast(
                    xv,
                    if op == kiln_ir::UnaryOp::LogicalNot {
                        self.dtype(x)
                    } else {
                        out
                    },
                );
                if op == kiln_ir::UnaryOp::LogicalNot {
                    return Ok(blk.push(ScalarOp::Unary(op, xv), out));
                }
                Ok(push_rounded(blk, ScalarOp::Unary(op, xv), out))
            }
            Op::Binary { op, a, b } => {
                let ta = dtypes::division_operands(op, operand_dtype(self, &[&a, &b]), out);
                // A comparison casts a Python scalar to the operands' dtype (`lt(h, 0.1)`
                // compares with f16(0.1)); arithmetic reads it in the compute type.
                let (a, b) = if op.is_comparison() {
                    (rounded(a, ta), rounded(b, ta))
                } else {
                    (a, b)
                };
                let av = self.operand(blk, &a, &shape, idx, ta, reborrow(&mut ctx))?;
                let bv = self.operand(blk, &b, &shape, idx, ta, reborrow(&mut ctx))?;
                if op.is_comparison() {
                    return Ok(blk.push(ScalarOp::Binary(op, av, bv), out));
                }
                Ok(push_rounded(blk, ScalarOp::Binary(op, av, bv), out))
            }
            Op::Where { cond, a, b } => {
                let c = self.operand(blk, &cond, &shape, idx, DType::Bool, reborrow(&mut ctx))?;
                // `where` casts a scalar branch to the result's dtype.
                let (a, b) = (rounded(a, out), rounded(b, out));
                let av = self.operand(blk, &a, &shape, idx, out, reborrow(&mut ctx))?;
                let bv = self.operand(blk, &b, &shape, idx, out, reborrow(&mut ctx))?;
                Ok(blk.push(ScalarOp::Select(c, av, bv), out))
            }
            Op::Cast { x, dtype } => {
                let xv = self.emit(blk, x, idx, ctx)?;
                Ok(blk.cast(xv, dtype))
            }
            _ => Err(self.misrouted(n)),
        }
    }

    /// A kiln bug: an op reached an emitter that does not handle it.
    /// Node `n` read from its buffer at `idx`, materialising it first if no kernel has yet.
    fn load_materialized(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
    ) -> Result<ValueId, SchedError> {
        let b = self.materialize(n)?;
        let shape = self.shape(n).to_vec();
        Ok(self.load(blk, b, &shape, idx))
    }

    fn misrouted(&self, n: NodeId) -> SchedError {
        SchedError::Unsupported {
            node: self.name(n).to_string(),
            msg: "the lowering sent this op to the wrong emitter (a kiln bug)".into(),
        }
    }

    /// A reduction or pooling node: fused as the kernel's reduction when read at the kernel's
    /// own index by its only user, else materialised and loaded.
    fn emit_reduction(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let out = self.dtype(n);
        if let Some((k, root)) = ctx {
            let identity = idx == outer_idx(k.dims.len()).as_slice() && shape == k.dims;
            let single_use =
                n == root || (grad::data_uses(self.g, n) == 1 && !self.g.outputs().contains(&n));
            let free = k.reduce.as_ref().is_none_or(|(m, _, _)| *m == n);
            if identity && single_use && free {
                if k.reduce.is_none() {
                    let (red, post) = reduction_of(self, n)?;
                    k.reduce = Some((n, red, post));
                }
                let (_, red, post) = k.reduce.as_ref().expect("set above");
                let acc = red.result_dtype();
                let mut v = blk.push(ScalarOp::Reduced, acc);
                if let Post::DivBy(d) = post {
                    let d = blk.push(ScalarOp::Index(d.clone()), acc);
                    v = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Div, v, d), acc);
                }
                return Ok(blk.cast(v, out));
            }
        }
        let b = self.materialize(n)?;
        Ok(self.load(blk, b, &shape, idx))
    }

    /// Index into an operand (node `n`'s value, of shape `operand`) broadcast right-aligned to
    /// `out`: a dim the shape environment knows is 1 reads index 0. Whether it is 1 is asked of
    /// the env, not read off the expression, since a derived size (`(H - 2)//2 + 1`) can be 1
    /// in this specialisation (shape inference recorded that as a guard); the output's index
    /// there ranges over the output's extent, which a one-element dim does not have.
    pub(crate) fn broadcast_idx(
        &mut self,
        n: NodeId,
        operand: &[Expr],
        out: &[Expr],
        idx: &[Expr],
    ) -> Result<Vec<Expr>, SchedError> {
        let lead = out.len() - operand.len();
        let mut bidx = Vec::with_capacity(operand.len());
        for (j, d) in operand.iter().enumerate() {
            let same = *d == out[lead + j];
            let one = !same
                && kiln_ir::infer::known_one(self.env, d)
                    .map_err(|source| self.shape_error(n, source))?;
            bidx.push(if one {
                Expr::int(0)
            } else {
                idx[lead + j].clone()
            });
        }
        Ok(bidx)
    }
}

/// Reborrows the kernel context for one of several operand emissions.
fn reborrow<'b>(
    c: &'b mut Option<(&mut KernelCtx, NodeId)>,
) -> Option<(&'b mut KernelCtx, NodeId)> {
    c.as_mut().map(|(k, r)| (&mut **k, *r))
}

/// The multi-index of flat offset `flat` in a contiguous tensor of `shape`.
pub(super) fn delinearize(shape: &[Expr], flat: &Expr) -> Vec<Expr> {
    let mut out = vec![Expr::int(0); shape.len()];
    let mut stride = Expr::int(1);
    for (j, d) in shape.iter().enumerate().rev() {
        out[j] = flat.floor_div(&stride).modulo(d);
        stride = &stride * d;
    }
    out
}
