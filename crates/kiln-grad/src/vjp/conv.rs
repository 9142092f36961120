//! Convolution. `Op::Conv` (`y = conv(x, w)`): `gx = convolution_backward_input(ct, w, x)`
//! and `gw = convolution_backward_weight(ct, x, w)` with the forward params; the forward
//! values are `like` operands there (their shapes only), so the backward stays symbolic.
//!
//! `Op::ConvTranspose2d` is the adjoint (input gradient) of the convolution `C` of a
//! `y`-shaped input with `w` under the same stride, padding (both sides), dilation and
//! groups, so: `gx = C(ct)`, a forward convolution of the cotangent, and `gw` is `C`'s
//! weight gradient with the roles swapped, `convolution_backward_weight(x, ct, w)`
//! (`x` is the gradient of `C`'s output, `ct` its input). Both need `C` to map `y`'s size
//! back onto `x`'s, which holds exactly when `output_padding < stride` in every dim (PyTorch
//! also accepts `output_padding < dilation`; that case has no rule here).
use kiln_ir::{ConvParams, NodeId, Op};

use super::Cx;
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    _node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    match op {
        Op::Conv { x, w, params } => conv(cx, (cx.fwd(*x), cx.fwd(*w)), params, ct, needs),
        Op::ConvTranspose2d { x, w, params: p } => {
            if (0..2).any(|i| p.output_padding[i] >= p.stride[i]) {
                return Err(cx.not_differentiable(
                    op,
                    "output_padding >= stride (allowed because it is below the dilation) \
                     has no backward rule",
                ));
            }
            let params = ConvParams {
                stride: p.stride.to_vec(),
                padding: p.padding.iter().map(|&v| [v, v]).collect(),
                dilation: p.dilation.to_vec(),
                groups: p.groups,
            };
            conv_transpose(cx, (cx.fwd(*x), cx.fwd(*w)), params, ct, needs)
        }
        _ => unreachable!("conv::vjp is only called for convolutions"),
    }
}

fn conv(
    cx: &mut Cx,
    (x, w): (NodeId, NodeId),
    params: &ConvParams,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let mut out = vec![None, None];
    if needs[0] {
        let op = Op::ConvBackwardInput {
            grad_output: ct,
            weight: w,
            input_like: x,
            params: params.clone(),
        };
        out[0] = Some(cx.add("convolution_backward_input", op)?);
    }
    if needs[1] {
        let op = Op::ConvBackwardWeight {
            grad_output: ct,
            input: x,
            weight_like: w,
            params: params.clone(),
        };
        out[1] = Some(cx.add("convolution_backward_weight", op)?);
    }
    Ok(out)
}

fn conv_transpose(
    cx: &mut Cx,
    (x, w): (NodeId, NodeId),
    params: ConvParams,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let mut out = vec![None, None];
    if needs[1] {
        let op = Op::ConvBackwardWeight {
            grad_output: x,
            input: ct,
            weight_like: w,
            params: params.clone(),
        };
        out[1] = Some(cx.add("convolution_backward_weight", op)?);
    }
    if needs[0] {
        let op = Op::Conv { x: ct, w, params };
        out[0] = Some(cx.add("convolution", op)?);
    }
    Ok(out)
}
