//! The backward of reflect and replicate padding: each padded dim at a time (both modes are
//! separable, so a multi-dim pad is the composition of one-dim pads), the cotangent's centre
//! plus the border elements added back onto the input elements they copied.
use kiln_ir::{BinaryOp as B, NodeId, Op, PadMode, ReduceOp, SliceBounds};

use super::{Cx, v};
use crate::GradError;

fn slice(
    cx: &mut Cx,
    x: NodeId,
    dim: i64,
    start: i64,
    end: Option<i64>,
) -> Result<NodeId, GradError> {
    cx.add(
        "slice",
        Op::Slice {
            x,
            dim,
            bounds: SliceBounds::Range {
                start: Some(start),
                end,
                step: 1,
            },
        },
    )
}

/// `acc` with `src` (one element wide along `dim`) added at index `at` (negative from the end).
fn add_at(cx: &mut Cx, acc: NodeId, src: NodeId, dim: i64, at: i64) -> Result<NodeId, GradError> {
    let zeros = cx.zeros_like(acc)?;
    let end = if at == -1 { None } else { Some(at + 1) };
    let placed = cx.add(
        "slice_scatter",
        Op::SliceScatter {
            input: zeros,
            src,
            dim,
            bounds: SliceBounds::Range {
                start: Some(at),
                end,
                step: 1,
            },
        },
    )?;
    cx.binary(B::Add, v(acc), v(placed))
}

/// The cotangent of `pad(x, pad, mode)` for reflect or replicate `mode` (pads >= 0).
pub(super) fn unpad_border(
    cx: &mut Cx,
    ct: NodeId,
    x: NodeId,
    pad: &[i64],
    mode: PadMode,
) -> Result<NodeId, GradError> {
    let rank = cx.rank_of(x)?;
    let mut c = ct;
    for (k, pair) in pad.chunks(2).enumerate() {
        let dim = (rank - 1 - k) as i64;
        let (left, right) = (pair[0], pair.get(1).copied().unwrap_or(0));
        if left == 0 && right == 0 {
            continue;
        }
        let mut centre = slice(cx, c, dim, left, (right > 0).then_some(-right))?;
        match mode {
            PadMode::Replicate => {
                // Every left border element copied x[0], every right one x[n - 1].
                for (start, end, at) in [(0, Some(left), 0), (-right, None, -1)] {
                    if (at == 0 && left == 0) || (at == -1 && right == 0) {
                        continue;
                    }
                    let border = slice(cx, c, dim, start, end)?;
                    let total = cx.add(
                        "sum",
                        Op::Reduce {
                            op: ReduceOp::Sum,
                            x: border,
                            dims: vec![dim],
                            keepdim: true,
                        },
                    )?;
                    centre = add_at(cx, centre, total, dim, at)?;
                }
            }
            PadMode::Reflect => {
                // Output i < left copied x[left - i]; output left + n + j copied x[n - 2 - j].
                for i in 0..left {
                    let one = slice(cx, c, dim, i, Some(i + 1))?;
                    centre = add_at(cx, centre, one, dim, left - i)?;
                }
                for j in 0..right {
                    let from = -right + j;
                    let end = if from == -1 { None } else { Some(from + 1) };
                    let one = slice(cx, c, dim, from, end)?;
                    centre = add_at(cx, centre, one, dim, -2 - j)?;
                }
            }
            PadMode::Constant => unreachable!("constant padding has its own rule"),
        }
        c = centre;
    }
    cx.reshape_as(c, x)
}
