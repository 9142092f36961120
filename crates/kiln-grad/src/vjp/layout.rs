//! Layout and data-movement rules. Views (reshape, squeeze, unsqueeze, flatten, unflatten)
//! reshape the cotangent back with `reshape_as`; permutations apply the inverse; broadcasts
//! (`expand`) sum back with `sum_to`; slices scatter into zeros (`slice_scatter`); `cat` hands
//! each input its block (`cat_part`); `pad` slices off the padding (or pads what a negative
//! pad cropped); `repeat` sums over the tiles.
use kiln_ir::{NodeId, Op, PadMode, ReduceOp, SliceBounds};
use kiln_shape::Dim;

use super::Cx;
use super::reduce::normalize;
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    _node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let one = |c: NodeId| Ok(vec![Some(c)]);
    match op {
        Op::Reshape { x, .. }
        | Op::Squeeze { x, .. }
        | Op::Unsqueeze { x, .. }
        | Op::Flatten { x, .. }
        | Op::Unflatten { x, .. }
        | Op::ReshapeAs { x, .. } => {
            let c = cx.reshape_as(ct, *x)?;
            Ok(with_like_none(op, c))
        }
        Op::Permute { dims, .. } => {
            let r = dims.len();
            let mut inverse = vec![0i64; r];
            for (o, &d) in dims.iter().enumerate() {
                inverse[normalize(d, r)] = o as i64;
            }
            one(cx.add(
                "permute",
                Op::Permute {
                    x: ct,
                    dims: inverse,
                },
            )?)
        }
        Op::Transpose { dim0, dim1, .. } => one(cx.add(
            "transpose",
            Op::Transpose {
                x: ct,
                dim0: *dim0,
                dim1: *dim1,
            },
        )?),
        Op::Expand { x, .. } | Op::ExpandAs { x, .. } => {
            let c = cx.sum_to(ct, *x)?;
            Ok(with_like_none(op, c))
        }
        Op::SumTo { x, .. } => {
            let c = cx.expand_as(ct, *x)?;
            Ok(with_like_none(op, c))
        }
        Op::Cat { xs, dim } => {
            let mut out = Vec::with_capacity(xs.len());
            for (i, &need) in needs.iter().enumerate() {
                out.push(if need {
                    Some(cx.build("cat_part", |g, n| {
                        kiln_ir::build::grad::cat_part(g, n, ct, xs.clone(), *dim, i)
                    })?)
                } else {
                    None
                });
            }
            Ok(out)
        }
        Op::CatPart {
            x,
            parts,
            dim,
            index,
        } => {
            // Scatter the block back: zeros with ct in block `index`, via cat of zeros.
            let mut blocks = Vec::with_capacity(parts.len());
            for (i, &p) in parts.iter().enumerate() {
                blocks.push(if i == *index { ct } else { cx.zeros_like(p)? });
            }
            let c = cx.add(
                "cat",
                Op::Cat {
                    xs: blocks,
                    dim: *dim,
                },
            )?;
            let c = cx.reshape_as(c, *x)?;
            let mut out = vec![Some(c)];
            out.extend(parts.iter().map(|_| None));
            Ok(out)
        }
        Op::Slice { x, dim, bounds } => {
            let zeros = cx.zeros_like(*x)?;
            one(scatter(cx, zeros, ct, *dim, bounds.clone())?)
        }
        Op::Select { x, dim, index } => {
            let zeros = cx.zeros_like(*x)?;
            let src = cx.add("unsqueeze", Op::Unsqueeze { x: ct, dim: *dim })?;
            let end = if *index == -1 { None } else { Some(index + 1) };
            let bounds = SliceBounds::Range {
                start: Some(*index),
                end,
                step: 1,
            };
            one(scatter(cx, zeros, src, *dim, bounds)?)
        }
        Op::SliceScatter {
            src, dim, bounds, ..
        } => {
            let mut out = Vec::new();
            if needs[0] {
                let zeros = cx.zeros_like(*src)?;
                out.push(Some(scatter(cx, ct, zeros, *dim, bounds.clone())?));
            } else {
                out.push(None);
            }
            out.push(if needs[1] {
                Some(cx.add(
                    "slice",
                    Op::Slice {
                        x: ct,
                        dim: *dim,
                        bounds: bounds.clone(),
                    },
                )?)
            } else {
                None
            });
            Ok(out)
        }
        Op::Pad { x, pad, mode, .. } => {
            if *mode == PadMode::Constant {
                return one(unpad(cx, ct, *x, pad)?);
            }
            if pad.iter().any(|&p| p < 0) {
                return Err(cx.not_differentiable(op, "negative reflect/replicate padding"));
            }
            one(super::pad::unpad_border(cx, ct, *x, pad, *mode)?)
        }
        Op::Repeat { x, repeats } => one(unrepeat(cx, ct, *x, repeats)?),
        _ => unreachable!("layout::vjp is only called for layout ops"),
    }
}

/// `[Some(c)]` plus `None` for a `like` operand (read for its shape only).
fn with_like_none(op: &Op, c: NodeId) -> Vec<Option<NodeId>> {
    let mut out = vec![Some(c)];
    out.resize(op.inputs().len(), None);
    out
}

fn scatter(
    cx: &mut Cx,
    input: NodeId,
    src: NodeId,
    dim: i64,
    bounds: SliceBounds,
) -> Result<NodeId, GradError> {
    cx.add(
        "slice_scatter",
        Op::SliceScatter {
            input,
            src,
            dim,
            bounds,
        },
    )
}

/// The cotangent of `pad(x, pad)` (constant mode): slice off each padded border, then pad
/// back (with zeros) what a negative pad cropped.
fn unpad(cx: &mut Cx, ct: NodeId, x: NodeId, pad: &[i64]) -> Result<NodeId, GradError> {
    let rank = cx.rank_of(x)?;
    let mut c = ct;
    let mut crop_back = Vec::with_capacity(pad.len());
    for (k, pair) in pad.chunks(2).enumerate() {
        let dim = (rank - 1 - k) as i64;
        let (left, right) = (pair[0], pair.get(1).copied().unwrap_or(0));
        if left > 0 || right > 0 {
            c = cx.add(
                "slice",
                Op::Slice {
                    x: c,
                    dim,
                    bounds: SliceBounds::Range {
                        start: Some(left.max(0)),
                        end: (right > 0).then_some(-right),
                        step: 1,
                    },
                },
            )?;
        }
        crop_back.push((-left).max(0));
        crop_back.push((-right).max(0));
    }
    if crop_back.iter().any(|&p| p > 0) {
        c = cx.add(
            "pad",
            Op::Pad {
                x: c,
                pad: crop_back,
                mode: PadMode::Constant,
                value: 0.0,
            },
        )?;
    }
    cx.reshape_as(c, x)
}

/// The cotangent of `x.repeat(repeats)`: each dim of size `r * n` is unflattened into
/// `[r, n]` and summed over the tiles; extra leading dims are summed away.
fn unrepeat(cx: &mut Cx, ct: NodeId, x: NodeId, repeats: &[i64]) -> Result<NodeId, GradError> {
    let rank = cx.rank_of(x)?;
    let lead = repeats.len() - rank;
    let mut c = ct;
    for (i, &r) in repeats.iter().enumerate().skip(lead).rev() {
        if r == 1 {
            continue;
        }
        c = cx.add(
            "unflatten",
            Op::Unflatten {
                x: c,
                dim: i as i64,
                sizes: vec![Dim::Fixed(r), Dim::Fixed(-1)],
            },
        )?;
        c = cx.add(
            "sum",
            Op::Reduce {
                op: ReduceOp::Sum,
                x: c,
                dims: vec![i as i64],
                keepdim: false,
            },
        )?;
    }
    if lead > 0 {
        c = cx.add(
            "sum",
            Op::Reduce {
                op: ReduceOp::Sum,
                x: c,
                dims: (0..lead as i64).collect(),
                keepdim: false,
            },
        )?;
    }
    cx.reshape_as(c, x)
}
