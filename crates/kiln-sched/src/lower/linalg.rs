//! Lowering `matmul` to a GEMM library call (the CPU's `gemm` crate, cuBLAS), not a loop nest.
//!
//! The product is written into a buffer of its own (the output buffer when the matmul is a
//! graph output, else a temporary that elementwise users such as a bias add load, fused as any
//! materialised value). The operands must be in buffers, but layout ops between a buffer and
//! the matmul are not copied: a transpose or permute (linear's `weight.T`), an unsqueeze or an
//! expand only change the strides the GEMM reads with (a broadcast batch dim has stride 0),
//! and a reshape or squeeze reads its input's buffer with the new shape's strides.
use kiln_ir::{NodeId, NodeKind, Op};
use kiln_shape::Expr;

use super::{Lowerer, norm_dim};
use crate::error::SchedError;
use crate::ir::*;

/// C-order strides of a contiguous tensor of `shape`, in elements.
fn contiguous_strides(shape: &[Expr]) -> Vec<Expr> {
    let mut strides = vec![Expr::int(1); shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = &strides[i + 1] * &shape[i + 1];
    }
    strides
}

impl Lowerer<'_> {
    /// Pushes the GEMM computing matmul node `n` (`a @ b`) into buffer `c`.
    pub(crate) fn lower_matmul(
        &mut self,
        n: NodeId,
        a: NodeId,
        b: NodeId,
        c: BufId,
    ) -> Result<(), SchedError> {
        let out = self.shape(n).to_vec();
        let (batch, mn) = out.split_at(out.len() - 2);
        let k = self
            .shape(a)
            .last()
            .expect("matmul operands have rank >= 2")
            .clone();
        let a_ref = self.matrix_operand(a, batch)?;
        let b_ref = self.matrix_operand(b, batch)?;
        let strides = contiguous_strides(&out);
        let c_ref = MatrixRef {
            buf: c,
            offset: Expr::int(0),
            batch_strides: strides[..batch.len()].to_vec(),
            row_stride: strides[batch.len()].clone(),
            col_stride: Expr::int(1),
        };
        let gemm = Gemm {
            name: format!("gemm{}_{}", self.kernel_count(), self.g.node(n).name),
            dtype: self.dtype(n),
            batch: batch.to_vec(),
            m: mn[0].clone(),
            n: mn[1].clone(),
            k,
            a: a_ref,
            b: b_ref,
            c: c_ref,
            alpha: 1.0,
            beta: 0.0,
        };
        self.push_library(LibraryCall::Gemm(Box::new(gemm)));
        Ok(())
    }

    /// Operand `x` (rank >= 2) as a matrix stack over the product's `batch` dims: its own
    /// batch dims right-aligned, missing or size-1 ones broadcast with stride 0.
    fn matrix_operand(&mut self, x: NodeId, batch: &[Expr]) -> Result<MatrixRef, SchedError> {
        let (buf, strides) = self.strided_view(x)?;
        let shape = self.shape(x).to_vec();
        let r = shape.len();
        let lead = batch.len() + 2 - r;
        let mut batch_strides = Vec::with_capacity(batch.len());
        for (i, out_dim) in batch.iter().enumerate() {
            let stride = match i.checked_sub(lead) {
                None => Expr::int(0),
                Some(j) if self.broadcasts(x, &shape[j], out_dim)? => Expr::int(0),
                Some(j) => strides[j].clone(),
            };
            batch_strides.push(stride);
        }
        Ok(MatrixRef {
            buf,
            offset: Expr::int(0),
            batch_strides,
            row_stride: strides[r - 2].clone(),
            col_stride: strides[r - 1].clone(),
        })
    }

    /// Whether a dim of size `d` is broadcast to `out` (it is 1 and `out` need not be).
    fn broadcasts(&mut self, n: NodeId, d: &Expr, out: &Expr) -> Result<bool, SchedError> {
        if d == out {
            return Ok(false);
        }
        kiln_ir::infer::known_one(self.env, d).map_err(|source| SchedError::Shape {
            node: self.g.node(n).name.clone(),
            source,
        })
    }

    /// The buffer holding `x`'s elements and `x`'s strides in it: layout ops over a value are
    /// followed to the value's buffer, anything else is materialised.
    fn strided_view(&mut self, x: NodeId) -> Result<(BufId, Vec<Expr>), SchedError> {
        let shape = self.shape(x).to_vec();
        if let Some(&b) = self.materialized.get(&x) {
            return Ok((b, contiguous_strides(&shape)));
        }
        let op = match &self.g.node(x).kind {
            NodeKind::Op(op) => op.clone(),
            _ => {
                let b = self.materialize(x)?;
                return Ok((b, contiguous_strides(&shape)));
            }
        };
        let r = shape.len();
        match op {
            Op::Transpose {
                x: inner,
                dim0,
                dim1,
            } => {
                let (b, mut s) = self.strided_view(inner)?;
                if r > 0 {
                    s.swap(norm_dim(dim0, r), norm_dim(dim1, r));
                }
                Ok((b, s))
            }
            Op::Permute { x: inner, dims } => {
                let (b, s) = self.strided_view(inner)?;
                Ok((b, dims.iter().map(|&d| s[norm_dim(d, r)].clone()).collect()))
            }
            Op::Unsqueeze { x: inner, dim } => {
                let (b, mut s) = self.strided_view(inner)?;
                // A size-1 dim is never stepped along: any stride will do.
                s.insert(norm_dim(dim, r), Expr::int(0));
                Ok((b, s))
            }
            Op::Expand { x: inner, .. } | Op::ExpandAs { x: inner, .. } => {
                let (b, s) = self.strided_view(inner)?;
                let inner_shape = self.shape(inner).to_vec();
                let lead = r - inner_shape.len();
                let mut out = vec![Expr::int(0); lead];
                for (j, d) in inner_shape.iter().enumerate() {
                    let bcast = self.broadcasts(x, d, &shape[lead + j])?;
                    out.push(if bcast { Expr::int(0) } else { s[j].clone() });
                }
                Ok((b, out))
            }
            // Keeping the element order, these read the (contiguous) buffer of their input.
            Op::Reshape { x: inner, .. }
            | Op::ReshapeAs { x: inner, .. }
            | Op::Squeeze { x: inner, .. } => {
                let b = self.materialize(inner)?;
                Ok((b, contiguous_strides(&shape)))
            }
            _ => {
                let b = self.materialize(x)?;
                Ok((b, contiguous_strides(&shape)))
            }
        }
    }
}
