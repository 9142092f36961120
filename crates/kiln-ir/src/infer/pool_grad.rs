//! Checks and shape rules of the pool backward family (`max_pool2d_backward`,
//! `avg_pool2d_backward`, `adaptive_{avg,max}_pool2d_backward`): the result has the forward
//! input's shape, and `grad_output` must have the shape the forward pooling gives that input
//! (decided through the shape environment, so a symbolic H or W becomes a guard only where
//! the ranges do not decide it).
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::check::{Lookup, ValueInfo, check_pool_params, require_pool_input};
use super::shapes::show_shape;
use super::{OpError, TensorType, pool};
use crate::graph::NodeId;
use crate::op::Op;

/// The `(grad_output, input)` operands of a pool backward op.
fn operands(op: &Op) -> (NodeId, NodeId) {
    match op {
        Op::MaxPool2dBackward {
            grad_output, input, ..
        }
        | Op::AvgPool2dBackward {
            grad_output, input, ..
        }
        | Op::AdaptiveAvgPool2dBackward { grad_output, input }
        | Op::AdaptiveMaxPool2dBackward { grad_output, input } => (*grad_output, *input),
        _ => unreachable!("pool_grad is only called for pool backward ops"),
    }
}

/// Dtypes, ranks and pooling parameters (no sizes needed).
pub(crate) fn check(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    let (go, x) = operands(op);
    let (go, x) = (lookup(go)?, lookup(x)?);
    let x = require_pool_input(x)?;
    require_pool_input(go).map_err(|e| format!("grad_output: {e}"))?;
    if go.dtype != x.dtype {
        return Err(format!(
            "grad_output has dtype {} but input has dtype {} (the backward needs one dtype)",
            go.dtype, x.dtype
        ));
    }
    if let (Some(gr), Some(xr)) = (go.rank, x.rank)
        && gr != xr
    {
        return Err(format!(
            "grad_output has rank {gr} but input has rank {xr} (expected equal ranks)"
        ));
    }
    match op {
        Op::MaxPool2dBackward { params, .. } => check_pool_params(params, false)?,
        Op::AvgPool2dBackward { params, .. } => check_pool_params(params, true)?,
        _ => {}
    }
    Ok(x)
}

fn shape_of(types: &[TensorType], id: NodeId) -> Result<&[Expr], OpError> {
    types
        .get(id.index())
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| OpError::Invalid(format!("operand #{} is not defined", id.index())))
}

/// Fails unless `grad_output`'s shape equals `want` (the forward's output shape).
fn require_shape(env: &mut ShapeEnv, go: &[Expr], want: &[Expr]) -> Result<(), OpError> {
    for (i, (g, w)) in go.iter().zip(want).enumerate() {
        if g != w && !env.decide(&Cond::eq(g.clone(), w.clone()))? {
            return Err(OpError::Invalid(format!(
                "grad_output has shape {} but the forward pooling gives {} (dim {i} is {g}, \
                 expected {w})",
                show_shape(go),
                show_shape(want)
            )));
        }
    }
    Ok(())
}

/// The result's shape: the input's, once grad_output is checked against the forward's.
pub(crate) fn infer(
    op: &Op,
    types: &[TensorType],
    env: &mut ShapeEnv,
) -> Result<Vec<Expr>, OpError> {
    let (go, x) = operands(op);
    let (go, xs) = (shape_of(types, go)?, shape_of(types, x)?);
    let want = match op {
        Op::MaxPool2dBackward { params, .. } | Op::AvgPool2dBackward { params, .. } => {
            pool::pool2d(env, xs, params)?
        }
        _ => {
            // The adaptive output size is grad_output's H and W, which (like the forward's
            // input H and W) the windows depend on: specialised, as the forward does.
            let hw = &go[go.len() - 2..];
            let mut size = [0i64; 2];
            for (s, d) in size.iter_mut().zip(hw) {
                *s = env.specialize(d)?;
                if *s < 1 {
                    return Err(OpError::Invalid(format!(
                        "grad_output has shape {}: its last two dims (the output size) must be \
                         >= 1",
                        show_shape(go)
                    )));
                }
            }
            let is_avg = matches!(op, Op::AdaptiveAvgPool2dBackward { .. });
            pool::adaptive_pool2d(env, xs, size, is_avg)?
        }
    };
    require_shape(env, go, &want)?;
    Ok(xs.to_vec())
}
