//! Pooling: each forward pooling op's vector-Jacobian product is its backward primitive
//! (`kiln_ir`'s pool backward family), given the cotangent and the forward input: max pooling
//! finds each window's maximum again in the input (no indices are saved), average pooling
//! reads the input for its shape only, and the adaptive pools take their output size from the
//! cotangent's.
use kiln_ir::{NodeId, Op};

use super::Cx;
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    _node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    if !needs.first().copied().unwrap_or(false) {
        return Ok(vec![None]);
    }
    let backward = match *op {
        Op::MaxPool2d { x, params } => Op::MaxPool2dBackward {
            grad_output: ct,
            input: cx.fwd(x),
            params,
        },
        Op::AvgPool2d { x, params } => Op::AvgPool2dBackward {
            grad_output: ct,
            input: cx.fwd(x),
            params,
        },
        Op::AdaptiveAvgPool2d { x, .. } => Op::AdaptiveAvgPool2dBackward {
            grad_output: ct,
            input: cx.fwd(x),
        },
        Op::AdaptiveMaxPool2d { x, .. } => Op::AdaptiveMaxPool2dBackward {
            grad_output: ct,
            input: cx.fwd(x),
        },
        _ => unreachable!("pool::vjp is only called for pooling ops"),
    };
    let name = backward.name();
    Ok(vec![Some(cx.add(name, backward)?)])
}
