//! Lowering of the data movement ops. Slices, `select`, `repeat` and `pad` are index rewrites
//! of their input (no copy): a slice reads `start + i * step`, `repeat` reads `i mod size`,
//! reflect/replicate padding reads a reflected or clamped index, and constant padding reads
//! an index clamped into range and selects the fill value where the unclamped one is outside,
//! so no load is ever out of bounds. `cat` is materialised: one kernel per input stores that
//! input (with its producers fused) into its slice of the output, so each element is loaded
//! once, instead of one kernel loading every input at every point and selecting.
use kiln_ir::{BinaryOp, DType, NodeId, NodeKind, Op, PadMode};
use kiln_shape::Expr;

use super::{KernelCtx, Lowerer, contiguous_offset, norm_dim, outer_idx};
use crate::block::Block;
use crate::error::SchedError;
use crate::ir::{BufId, Kernel, ScalarOp, Store, ValueId};

type Ctx<'c, 'k> = Option<(&'c mut KernelCtx, NodeId)>;

/// `e` clamped into `0..size` (`size >= 1`).
fn clamp(e: &Expr, size: &Expr) -> Expr {
    Expr::max(&Expr::min(e, &(size - &Expr::int(1))), &Expr::int(0))
}

impl Lowerer<'_> {
    fn movement_error(&self, n: NodeId, msg: String) -> SchedError {
        SchedError::Unsupported {
            node: self.g.node(n).name.clone(),
            msg,
        }
    }

    /// The value of movement op `op` (node `n`) at `idx`.
    pub(crate) fn emit_movement(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        op: &Op,
        idx: &[Expr],
        ctx: Ctx<'_, '_>,
    ) -> Result<ValueId, SchedError> {
        match op {
            Op::Cat { .. } => {
                let b = self.materialize(n)?;
                let shape = self.shape(n).to_vec();
                Ok(self.load(blk, b, &shape, idx))
            }
            Op::Slice { x, dim, bounds } => {
                let xs = self.shape(*x).to_vec();
                let r = kiln_ir::infer::slice_range(self.env, &xs, *dim, bounds)
                    .map_err(|m| self.movement_error(n, m))?;
                let d = norm_dim(*dim, xs.len());
                let mut xi = idx.to_vec();
                xi[d] = &r.start + &(&idx[d] * &Expr::int(r.step));
                self.emit(blk, *x, &xi, ctx)
            }
            Op::Select { x, dim, index } => {
                let xs = self.shape(*x).to_vec();
                let at = kiln_ir::infer::select_index(self.env, &xs, *dim, *index)
                    .map_err(|m| self.movement_error(n, m))?;
                let mut xi = idx.to_vec();
                xi.insert(norm_dim(*dim, xs.len()), at);
                self.emit(blk, *x, &xi, ctx)
            }
            Op::Repeat { x, repeats } => {
                let xs = self.shape(*x).to_vec();
                let lead = repeats.len() - xs.len();
                let xi = xs
                    .iter()
                    .zip(&repeats[lead..])
                    .zip(&idx[lead..])
                    .map(|((s, &r), i)| if r == 1 { i.clone() } else { i.modulo(s) })
                    .collect::<Vec<_>>();
                self.emit(blk, *x, &xi, ctx)
            }
            Op::Pad {
                x,
                pad,
                mode,
                value,
            } => self.emit_pad(blk, n, *x, pad, *mode, *value, idx, ctx),
            _ => unreachable!("not a movement op: {}", op.name()),
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the fields of Op::Pad plus the emit context"
    )]
    fn emit_pad(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        x: NodeId,
        pad: &[i64],
        mode: PadMode,
        value: f64,
        idx: &[Expr],
        ctx: Ctx<'_, '_>,
    ) -> Result<ValueId, SchedError> {
        let out = self.dtype(n);
        let xs = self.shape(x).to_vec();
        let fill = |blk: &mut Block| blk.constant(kiln_ir::round_to(out, value), out);
        if mode == PadMode::Constant && xs.iter().any(|d| d.as_int() == Some(0)) {
            // Nothing to read: every element is the fill value.
            return Ok(fill(blk));
        }
        let mut xi = idx.to_vec();
        let mut inside: Option<ValueId> = None;
        for (d, l, r) in kiln_ir::infer::pad_pairs(xs.len(), pad) {
            let s = &xs[d];
            let i = &idx[d] - &Expr::int(l);
            xi[d] = match mode {
                PadMode::Replicate => clamp(&i, s),
                PadMode::Reflect => {
                    // |i|, then mirrored at s - 1; the final clamp changes no in-range index
                    // and lets the access check bound the load by interval arithmetic.
                    let a = Expr::max(&i, &-&i);
                    let last = s - &Expr::int(1);
                    clamp(&Expr::min(&a, &(&(&last + &last) - &a)), s)
                }
                PadMode::Constant => {
                    // Only the sides that are padded need a test.
                    let at = blk.push(ScalarOp::Index(i.clone()), DType::F64);
                    let mut conds = Vec::new();
                    if l > 0 {
                        let zero = blk.constant(0.0, DType::F64);
                        conds.push(blk.push(ScalarOp::Binary(BinaryOp::Ge, at, zero), DType::Bool));
                    }
                    if r > 0 {
                        let size = blk.push(ScalarOp::Index(s.clone()), DType::F64);
                        conds.push(blk.push(ScalarOp::Binary(BinaryOp::Lt, at, size), DType::Bool));
                    }
                    for c in conds {
                        inside = Some(match inside {
                            None => c,
                            Some(p) => {
                                blk.push(ScalarOp::Binary(BinaryOp::LogicalAnd, p, c), DType::Bool)
                            }
                        });
                    }
                    if l > 0 || r > 0 { clamp(&i, s) } else { i }
                }
            };
        }
        let v = self.emit(blk, x, &xi, ctx)?;
        let v = blk.cast(v, out);
        Ok(match inside {
            Some(c) => {
                let f = fill(blk);
                blk.push(ScalarOp::Select(c, v, f), out)
            }
            None => v,
        })
    }

    /// Lowers `cat` node `n` into `buf`: one kernel per input, over that input's shape, storing
    /// into its slice of the output.
    pub(crate) fn lower_cat(&mut self, n: NodeId, buf: BufId) -> Result<(), SchedError> {
        let NodeKind::Op(Op::Cat { xs, dim }) = &self.g.node(n).kind else {
            unreachable!("lower_cat of a node that is not a cat");
        };
        let (xs, dim) = (xs.clone(), *dim);
        let out_shape = self.shape(n).to_vec();
        let out = self.dtype(n);
        let d = norm_dim(dim, out_shape.len());
        let mut at = Expr::int(0);
        for (k, &x) in xs.iter().enumerate() {
            let dims = self.shape(x).to_vec();
            let idx = outer_idx(dims.len());
            let mut blk = Block::default();
            let mut ctx = KernelCtx {
                dims: dims.clone(),
                reduce: None,
            };
            let v = self.emit(&mut blk, x, &idx, Some((&mut ctx, x)))?;
            let v = blk.cast(v, out);
            let mut oi = idx;
            oi[d] = &oi[d] + &at;
            let kernel = Kernel {
                name: format!("k{}_{}_{k}", self.kernel_count(), self.g.node(n).name),
                dims: dims.clone(),
                reduce: ctx.reduce.map(|(_, r, _)| r),
                body: blk.instrs,
                stores: vec![Store {
                    buf,
                    offset: contiguous_offset(&out_shape, &oi),
                    value: v,
                }],
                index_bits: 64,
            };
            self.push_kernel(kernel)?;
            at = &at + &dims[d];
        }
        Ok(())
    }
}
