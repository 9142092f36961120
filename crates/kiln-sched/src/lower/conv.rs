//! Lowering of `Op::Conv` and `Op::ConvTranspose2d` to library calls ([`Conv`]): the inputs
//! are materialised contiguously, the call writes a contiguous buffer, and whatever reads the
//! result loads from it (a bias add is the next kernel's prologue). A graph output that is a
//! convolution is written by the call directly.
use kiln_ir::{NodeId, Op};
use kiln_shape::Expr;

use super::Lowerer;
use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;

impl Lowerer<'_> {
    /// Whether `n` is computed by a convolution library call (a forward one or a gradient).
    pub(crate) fn is_conv(&self, n: NodeId) -> bool {
        matches!(
            &self.g.node(n).kind,
            kiln_ir::NodeKind::Op(
                Op::Conv { .. }
                    | Op::ConvTranspose2d { .. }
                    | Op::ConvBackwardInput { .. }
                    | Op::ConvBackwardWeight { .. }
            )
        )
    }

    /// The value of convolution node `n` at `idx`: computed once into a temporary buffer.
    pub(crate) fn emit_conv(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let buf = self.add_buffer(self.dtype(n), &shape, BufKind::Temp);
        self.lower_conv(n, buf)?;
        self.materialized.insert(n, buf);
        Ok(self.load(blk, buf, &shape, idx))
    }

    /// Pushes the library call computing convolution node `n` into `out`.
    pub(crate) fn lower_conv(&mut self, n: NodeId, out: BufId) -> Result<(), SchedError> {
        let kiln_ir::NodeKind::Op(op) = &self.g.node(n).kind else {
            unreachable!("lower_conv is called on convolution nodes");
        };
        let (x, w, transposed) = match op {
            Op::Conv { x, w, .. } => (*x, *w, false),
            Op::ConvTranspose2d { x, w, .. } => (*x, *w, true),
            Op::ConvBackwardInput { .. } | Op::ConvBackwardWeight { .. } => {
                return self.lower_conv_grad(n, out);
            }
            _ => unreachable!("lower_conv is called on convolution nodes"),
        };
        let op = op.clone();
        let xb = self.materialize(x)?;
        let wb = self.materialize(w)?;
        let (xs, ws, ys) = (
            self.shape(x).to_vec(),
            self.shape(w).to_vec(),
            self.shape(n).to_vec(),
        );
        let mut kernel = Vec::with_capacity(ws.len() - 2);
        for k in &ws[2..] {
            // Shape inference specialised the kernel sizes already: this asks nothing new.
            let v = self.env.specialize(k).map_err(|e| self.shape_error(n, e))?;
            kernel.push(v);
        }
        let spatial = xs.len() - 2;
        let mut call = Conv {
            name: format!("conv{}_{}", self.kernel_count(), self.g.node(n).name),
            dtype: self.dtype(n),
            x: xb,
            w: wb,
            out,
            n: xs[0].clone(),
            c_in: xs[1].clone(),
            c_out: ys[1].clone(),
            spatial: xs[2..].to_vec(),
            out_spatial: ys[2..].to_vec(),
            kernel,
            stride: vec![],
            padding: vec![],
            padding_end: vec![],
            dilation: vec![],
            groups: 1,
            transposed,
            output_padding: vec![0; spatial],
        };
        match op {
            Op::Conv { params: p, .. } => {
                call.stride = p.stride;
                call.padding = p.padding.iter().map(|[lo, _]| *lo).collect();
                call.padding_end = p.padding.iter().map(|[_, hi]| *hi).collect();
                call.dilation = p.dilation;
                call.groups = p.groups;
            }
            Op::ConvTranspose2d { params: p, .. } => {
                call.stride = p.stride.to_vec();
                call.padding = p.padding.to_vec();
                call.padding_end = p.padding.to_vec();
                call.dilation = p.dilation.to_vec();
                call.groups = p.groups;
                call.output_padding = p.output_padding.to_vec();
            }
            _ => unreachable!("matched above"),
        }
        self.push_library(LibraryCall::Conv(Box::new(call)));
        Ok(())
    }
}
