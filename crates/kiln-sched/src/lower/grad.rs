//! Lowering of the gradient family. `expand_as`/`reshape_as` share `expand`'s and
//! `reshape`'s index rewrites (in `lower.rs`); their `like` operand is never emitted, so it is
//! neither loaded nor computed for its shape. `sum_to` is a reduction over the dims shape
//! inference found broadcast ([`kiln_ir::infer::sum_to_dims`], the same env questions, so no
//! new guard), fused with its producer and its users the way `sum` is; with no dim to sum it
//! is its input, read at the same index. `slice_scatter` is materialised with two affine
//! kernels, as constant `pad` is: a copy of `input`, then `src` stored at `start + i * step`
//! of `dim` (every store index is inside the output, which the access check proves at launch).
use kiln_ir::{Graph, NodeId, NodeKind, Op};
use kiln_shape::Expr;

use super::{Lowerer, Post, norm_dim, outer_idx};
use crate::error::SchedError;
use crate::ir::{BufId, ReduceKind, Reduction, outer_var, reduce_var};

/// How many times `n`'s data is read by its users: a `like` operand reads only the shape, so a
/// value used once plus as the `like` of a backward op still fuses into its one reader.
pub(crate) fn data_uses(g: &Graph, n: NodeId) -> usize {
    g.users(n)
        .filter(|&u| match &g.node(u).kind {
            NodeKind::Op(
                Op::SumTo { x, .. }
                | Op::ExpandAs { x, .. }
                | Op::ReshapeAs { x, .. }
                | Op::CatPart { x, .. },
            ) => *x == n,
            NodeKind::Op(
                Op::ConvBackwardInput {
                    grad_output: a,
                    weight: b,
                    ..
                }
                | Op::ConvBackwardWeight {
                    grad_output: a,
                    input: b,
                    ..
                },
            ) => *a == n || *b == n,
            _ => true,
        })
        .count()
}

impl Lowerer<'_> {
    fn grad_error(&self, n: NodeId, msg: String) -> SchedError {
        SchedError::Unsupported {
            node: self.g.node(n).name.clone(),
            msg,
        }
    }

    /// The dims of `x` that `sum_to` node `n` sums over (empty: `n` is `x`).
    pub(crate) fn sum_to_dims(&mut self, n: NodeId) -> Result<Vec<usize>, SchedError> {
        let NodeKind::Op(Op::SumTo { x, like }) = self.g.node(n).kind else {
            unreachable!("sum_to_dims is only called for sum_to")
        };
        let (xs, ls) = (self.shape(x).to_vec(), self.shape(like).to_vec());
        kiln_ir::infer::sum_to_dims(self.env, &xs, &ls).map_err(|m| self.grad_error(n, m))
    }

    /// The reduction loop of `sum_to(x, like)` at the kernel index (`like`'s rank): a reduced
    /// dim of `x` reads `%r`, a kept one the output's index of the same (right-aligned) dim.
    pub(crate) fn sum_to_reduction(
        &mut self,
        n: NodeId,
        x: NodeId,
    ) -> Result<(Reduction, Post), SchedError> {
        let summed = self.sum_to_dims(n)?;
        let xs = self.shape(x).to_vec();
        let lead = xs.len() - self.shape(n).len();
        let (mut xi, mut rdims) = (Vec::with_capacity(xs.len()), vec![]);
        for (i, d) in xs.iter().enumerate() {
            if summed.contains(&i) {
                xi.push(Expr::sym(&reduce_var(rdims.len())));
                rdims.push(d.clone());
            } else {
                xi.push(Expr::sym(&outer_var(i - lead)));
            }
        }
        let acc = self.dtype(x).compute();
        let mut blk = crate::block::Block::default();
        let v = self.emit(&mut blk, x, &xi, None)?;
        let value = blk.cast(v, acc);
        let red = Reduction {
            dims: rdims,
            kind: ReduceKind::Sum,
            valid: vec![],
            body: blk.instrs,
            value,
            acc,
        };
        Ok((red, Post::None))
    }

    /// `slice_scatter(input, src, dim, bounds)` into `buf`: a kernel copying `input` (its
    /// producers fused), then one over `src`'s shape storing it into the slice.
    pub(crate) fn lower_slice_scatter(&mut self, n: NodeId, buf: BufId) -> Result<(), SchedError> {
        let NodeKind::Op(Op::SliceScatter {
            input,
            src,
            dim,
            ref bounds,
        }) = self.g.node(n).kind
        else {
            unreachable!("lower_slice_scatter is only called for slice_scatter")
        };
        let bounds = bounds.clone();
        let shape = self.shape(n).to_vec();
        let r = kiln_ir::infer::slice_range(self.env, &shape, dim, &bounds)
            .map_err(|m| self.grad_error(n, m))?;
        let d = norm_dim(dim, shape.len());
        let name = &self.g.node(n).name;
        let (copy, store) = (
            format!("k{}_{name}_copy", self.kernel_count()),
            format!("k{}_{name}_src", self.kernel_count() + 1),
        );
        let idx = outer_idx(shape.len());
        self.store_region(n, input, copy, shape.clone(), &idx, &idx, buf)?;
        let mut to = idx.clone();
        to[d] = &r.start + &(&idx[d] * &Expr::int(r.step));
        let dims = self.shape(src).to_vec();
        self.store_region(n, src, store, dims, &idx, &to, buf)
    }
}
