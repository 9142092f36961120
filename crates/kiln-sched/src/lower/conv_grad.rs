//! Lowering of the conv backward family (`Op::ConvBackwardInput`, `Op::ConvBackwardWeight`)
//! to [`ConvGrad`] library calls. The call keeps the forward convolution's buffer roles:
//! `grad_output` sits where the forward output would, the gradient is written where the
//! forward operand it belongs to would be read, so that the launch proves the same extents
//! as the forward call. The `like` operand is never materialised: only its shape is used.
use kiln_ir::{NodeId, Op};

use super::Lowerer;
use crate::error::SchedError;
use crate::ir::*;

impl Lowerer<'_> {
    /// Pushes the library call computing conv backward node `n` into `out`.
    pub(crate) fn lower_conv_grad(&mut self, n: NodeId, out: BufId) -> Result<(), SchedError> {
        let kiln_ir::NodeKind::Op(op) = &self.g.node(n).kind else {
            unreachable!("lower_conv_grad is called on conv backward nodes");
        };
        let op = op.clone();
        let (of, gy, operand, params) = match &op {
            Op::ConvBackwardInput {
                grad_output,
                weight,
                params,
                ..
            } => (ConvGradOf::Input, *grad_output, *weight, params),
            Op::ConvBackwardWeight {
                grad_output,
                input,
                params,
                ..
            } => (ConvGradOf::Weight, *grad_output, *input, params),
            _ => unreachable!("lower_conv_grad is called on conv backward nodes"),
        };
        let gyb = self.materialize(gy)?;
        let ob = self.materialize(operand)?;
        let (x, w, xs, ws) = match of {
            ConvGradOf::Input => (
                out,
                ob,
                self.shape(n).to_vec(),
                self.shape(operand).to_vec(),
            ),
            ConvGradOf::Weight => (
                ob,
                out,
                self.shape(operand).to_vec(),
                self.shape(n).to_vec(),
            ),
        };
        let ys = self.shape(gy).to_vec();
        let mut kernel = Vec::with_capacity(ws.len() - 2);
        for k in &ws[2..] {
            // Shape inference specialised the kernel sizes already: this asks nothing new.
            kernel.push(self.env.specialize(k).map_err(|e| self.shape_error(n, e))?);
        }
        let conv = Conv {
            name: format!("conv_grad{}_{}", self.kernel_count(), self.g.node(n).name),
            dtype: self.dtype(n),
            x,
            w,
            out: gyb,
            n: xs[0].clone(),
            c_in: xs[1].clone(),
            c_out: ys[1].clone(),
            spatial: xs[2..].to_vec(),
            out_spatial: ys[2..].to_vec(),
            kernel,
            stride: params.stride.clone(),
            padding: params.padding.iter().map(|[lo, _]| *lo).collect(),
            padding_end: params.padding.iter().map(|[_, hi]| *hi).collect(),
            dilation: params.dilation.clone(),
            groups: params.groups,
            transposed: false,
            output_padding: vec![0; params.stride.len()],
        };
        self.push_library(LibraryCall::ConvGrad(Box::new(ConvGrad { of, conv })));
        Ok(())
    }
}
