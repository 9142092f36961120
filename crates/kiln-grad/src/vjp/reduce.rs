//! Reductions, softmax and cumsum. A reduction's cotangent is unsqueezed at the reduced dims
//! (unless `keepdim`) and broadcast back with `expand_as`; `mean` divides by the reduced
//! count, computed as a sum of ones (sizes may be symbolic); `amax`/`amin` split the gradient
//! evenly among the elements equal to the result, as PyTorch.
use kiln_ir::{BinaryOp as B, DType, NodeId, Op, ReduceOp};

use super::{Cx, s, v};
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    node: NodeId,
    op: &Op,
    ct: NodeId,
    _needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    match op {
        Op::Reduce {
            op: r,
            x,
            dims,
            keepdim,
        } => Ok(vec![Some(reduce(cx, node, *r, *x, dims, *keepdim, ct)?)]),
        Op::Softmax { dim, .. } => {
            // y * (ct - sum(ct * y, dim, keepdim))
            let y = cx.fwd(node);
            let cy = cx.mul(ct, y)?;
            let total = cx.add(
                "sum",
                Op::Reduce {
                    op: ReduceOp::Sum,
                    x: cy,
                    dims: vec![*dim],
                    keepdim: true,
                },
            )?;
            let diff = cx.binary(B::Sub, v(ct), v(total))?;
            Ok(vec![Some(cx.mul(y, diff)?)])
        }
        Op::CumSum { x, dim } => {
            // The reverse cumulative sum: sum(ct) - cumsum(ct) + ct.
            if !cx.dtype(*x).is_float() {
                return Ok(vec![None]);
            }
            let total = cx.add(
                "sum",
                Op::Reduce {
                    op: ReduceOp::Sum,
                    x: ct,
                    dims: vec![*dim],
                    keepdim: true,
                },
            )?;
            let running = cx.add("cumsum", Op::CumSum { x: ct, dim: *dim })?;
            let before = cx.binary(B::Sub, v(total), v(running))?;
            Ok(vec![Some(cx.binary(B::Add, v(before), v(ct))?)])
        }
        _ => unreachable!("reduce::vjp is only called for reductions"),
    }
}

/// The cotangent of a reduction's result, broadcast back to `x`.
fn reduce(
    cx: &mut Cx,
    node: NodeId,
    r: ReduceOp,
    x: NodeId,
    dims: &[i64],
    keepdim: bool,
    ct: NodeId,
) -> Result<NodeId, GradError> {
    let rank = cx.rank_of(x)?;
    let kept = keep_dims(cx, ct, dims, keepdim, rank)?;
    let spread = cx.expand_as(kept, x)?;
    match r {
        ReduceOp::Sum => Ok(spread),
        ReduceOp::Mean => {
            let ones = cx.full_like(x, 1.0, DType::F64)?;
            let count = cx.add(
                "count",
                Op::Reduce {
                    op: ReduceOp::Sum,
                    x: ones,
                    dims: dims.to_vec(),
                    keepdim: true,
                },
            )?;
            let count = cx.cast(count, cx.dtype(ct))?;
            cx.binary(B::Div, v(spread), v(count))
        }
        ReduceOp::Amax | ReduceOp::Amin => {
            let y = keep_dims(cx, cx.fwd(node), dims, keepdim, rank)?;
            let hit = cx.binary(B::Eq, v(x), v(y))?;
            let mask = cx.cast(hit, cx.dtype(ct))?;
            let ties = cx.add(
                "ties",
                Op::Reduce {
                    op: ReduceOp::Sum,
                    x: mask,
                    dims: dims.to_vec(),
                    keepdim: true,
                },
            )?;
            let share = cx.binary(B::Div, v(kept), v(ties))?;
            let masked = cx.mul(mask, share)?;
            // `masked` already has x's shape (mask does); keep the exact shape explicit.
            let _ = s;
            cx.expand_as(masked, x)
        }
    }
}

/// `t` (a reduction's result) with the reduced dims put back as size 1.
fn keep_dims(
    cx: &mut Cx,
    t: NodeId,
    dims: &[i64],
    keepdim: bool,
    rank: usize,
) -> Result<NodeId, GradError> {
    if keepdim {
        return Ok(t);
    }
    let mut reduced: Vec<usize> = if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.iter().map(|&d| normalize(d, rank)).collect()
    };
    reduced.sort_unstable();
    let mut out = t;
    if dims.is_empty() {
        // A 0-d result broadcasts to x as it is.
        return Ok(out);
    }
    for d in reduced {
        out = cx.add(
            "unsqueeze",
            Op::Unsqueeze {
                x: out,
                dim: d as i64,
            },
        )?;
    }
    Ok(out)
}

/// A dim already validated by the forward's checks, made non-negative.
pub(super) fn normalize(d: i64, rank: usize) -> usize {
    let r = rank.max(1) as i64;
    (if d < 0 { d + r } else { d }) as usize
}
