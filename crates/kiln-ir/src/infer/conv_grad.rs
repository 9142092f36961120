//! Checks and shape rules of the conv backward family (`convolution_backward_input`,
//! `convolution_backward_weight`).
//!
//! The result takes the `like` operand's shape. What a size must satisfy is the forward
//! convolution's rule: the forward output of (`input`, `weight`) is computed with
//! [`super::conv::conv`] (its channel, groups and kernel checks included) and `grad_output`
//! must equal it dim by dim. When `grad_output` comes from the forward convolution of the
//! same values its sizes are the same expressions, so the comparison records no guard.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::TensorType;
use super::check::{Lookup, ValueInfo};
use super::conv::{check_conv, conv, conv_name};
use super::shapes::show_shape;
use crate::graph::NodeId;
use crate::op::{ConvParams, Op};

/// The operands as (grad_output, input, weight, params): whichever of input/weight is the
/// `like` operand is read for its shape only.
fn operands(op: &Op) -> (NodeId, NodeId, NodeId, &ConvParams) {
    match op {
        Op::ConvBackwardInput {
            grad_output,
            weight,
            input_like,
            params,
        } => (*grad_output, *input_like, *weight, params),
        Op::ConvBackwardWeight {
            grad_output,
            input,
            weight_like,
            params,
        } => (*grad_output, *input, *weight_like, params),
        _ => unreachable!("conv_grad is only called for conv backward ops"),
    }
}

/// `convolution_backward_input` or `_weight`, with the forward op's name for messages.
fn what(op: &Op, p: &ConvParams) -> String {
    format!("{} ({})", op.name(), conv_name(p.stride.len()))
}

/// Dtype and rank: the forward convolution's checks, and `grad_output` of the same dtype and
/// rank.
pub(crate) fn check(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    let (gy, x, w, p) = operands(op);
    let (gy, x, w) = (lookup(gy)?, lookup(x)?, lookup(w)?);
    let fwd = check_conv(x, w, p).map_err(|e| format!("{}: {e}", op.name()))?;
    if gy.dtype != fwd.dtype {
        return Err(format!(
            "{}: grad_output has dtype {} but the convolution's values have {}",
            what(op, p),
            gy.dtype,
            fwd.dtype
        ));
    }
    if let (Some(r), Some(expected)) = (gy.rank, fwd.rank)
        && r != expected
    {
        return Err(format!(
            "{}: grad_output has rank {r} but the convolution's output has rank {expected}",
            what(op, p)
        ));
    }
    let rank = match op {
        Op::ConvBackwardInput { .. } => x.rank,
        _ => w.rank,
    };
    Ok(ValueInfo {
        dtype: fwd.dtype,
        rank,
    })
}

fn shape_of(types: &[TensorType], id: NodeId) -> Result<&[Expr], OpError> {
    types
        .get(id.index())
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| OpError::Invalid(format!("operand #{} is not defined", id.index())))
}

/// The shape of a conv backward op: its `like` operand's, once `grad_output` is known to be
/// the forward convolution's output shape.
pub(crate) fn infer(
    op: &Op,
    types: &[TensorType],
    env: &mut ShapeEnv,
) -> Result<Vec<Expr>, OpError> {
    let (gy, x, w, p) = operands(op);
    let (gy, x, w) = (
        shape_of(types, gy)?,
        shape_of(types, x)?,
        shape_of(types, w)?,
    );
    let expected = conv(env, x, w, p)?;
    for (dim, (found, want)) in gy.iter().zip(&expected).enumerate() {
        if found != want && !env.decide(&Cond::eq(found.clone(), want.clone()))? {
            return Err(OpError::Invalid(format!(
                "{}: grad_output has size {found} in dim {dim} but the convolution of input \
                 {} with weight {} gives {want} there (output {})",
                what(op, p),
                show_shape(x),
                show_shape(w),
                show_shape(&expected)
            )));
        }
    }
    Ok(match op {
        Op::ConvBackwardInput { .. } => x.to_vec(),
        _ => w.to_vec(),
    })
}
