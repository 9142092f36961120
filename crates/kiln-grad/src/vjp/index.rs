//! The gather ops' backward (PyTorch's `derivatives.yaml`): the index operand never gets a
//! gradient (it is int64), and
//! - `index_select(x, dim, i)`: `gx = index_add(zeros_like(x), dim, i, ct)`;
//! - `gather(x, dim, i)`: `gx = scatter_add(zeros_like(x), dim, i, ct)`;
//! - `scatter_add(x, dim, i, src)`: `gx = ct`, `gsrc = gather(ct, dim, i)` (torch refuses a
//!   `src` larger than the index the same way: the gradient has the index's shape);
//! - `index_add(x, dim, i, source, alpha)`: `gx = ct`, `gsource = alpha * index_select(ct,
//!   dim, i)`;
//! - `embedding(i, w, padding_idx)`: `gw = index_add(zeros_like(w), 0, flatten(i),
//!   ct as [numel(i), D])`, with row `padding_idx` set back to zero.
//!
//! Every result takes its shape from a forward value (`zeros_like`, `reshape_as`), so the
//! backward stays symbolic.
use kiln_ir::{NodeId, Op, SliceBounds};

use super::Cx;
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    _node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let mut out = vec![None; needs.len()];
    match *op {
        Op::IndexSelect { x, dim, index } | Op::Gather { x, dim, index } if needs[0] => {
            let zeros = cx.zeros_like(cx.fwd(x))?;
            let index = cx.fwd(index);
            let back = match op {
                Op::IndexSelect { .. } => Op::IndexAdd {
                    x: zeros,
                    dim,
                    index,
                    source: ct,
                    alpha: 1.0,
                },
                _ => Op::ScatterAdd {
                    x: zeros,
                    dim,
                    index,
                    src: ct,
                },
            };
            out[0] = Some(cx.add(back.name(), back)?);
        }
        Op::ScatterAdd {
            dim, index, src, ..
        } => {
            out[0] = needs[0].then_some(ct);
            if needs[2] {
                let g = cx.add(
                    "gather",
                    Op::Gather {
                        x: ct,
                        dim,
                        index: cx.fwd(index),
                    },
                )?;
                out[2] = Some(cx.reshape_as(g, cx.fwd(src))?);
            }
        }
        Op::IndexAdd {
            dim,
            index,
            source,
            alpha,
            ..
        } => {
            out[0] = needs[0].then_some(ct);
            if needs[2] {
                let sel = Op::IndexSelect {
                    x: ct,
                    dim,
                    index: cx.fwd(index),
                };
                let mut g = cx.add("index_select", sel)?;
                if alpha != 1.0 {
                    g = cx.scale(g, alpha)?;
                }
                // A 0-d source of a one-element input: index_select keeps the dim.
                out[2] = Some(cx.reshape_as(g, cx.fwd(source))?);
            }
        }
        Op::Embedding {
            indices,
            weight,
            padding_idx,
        } if needs[1] => {
            out[1] = Some(embedding_weight(cx, indices, weight, padding_idx, ct)?);
        }
        _ => {}
    }
    Ok(out)
}

/// The weight's gradient of `embedding(indices, weight, padding_idx)`.
fn embedding_weight(
    cx: &mut Cx,
    indices: NodeId,
    weight: NodeId,
    padding_idx: Option<i64>,
    ct: NodeId,
) -> Result<NodeId, GradError> {
    let (indices, weight) = (cx.fwd(indices), cx.fwd(weight));
    let flat = cx.add(
        "flatten",
        Op::Flatten {
            x: indices,
            start_dim: 0,
            end_dim: -1,
        },
    )?;
    // ct is indices.shape + [D]: as rows [numel, D] (a 0-d index gives one row).
    let rows = if cx.rank_of(indices)? == 0 {
        cx.add("unsqueeze", Op::Unsqueeze { x: ct, dim: 0 })?
    } else {
        cx.add(
            "flatten",
            Op::Flatten {
                x: ct,
                start_dim: 0,
                end_dim: -2,
            },
        )?
    };
    let zeros = cx.zeros_like(weight)?;
    let grad = cx.add(
        "index_add",
        Op::IndexAdd {
            x: zeros,
            dim: 0,
            index: flat,
            source: rows,
            alpha: 1.0,
        },
    )?;
    let Some(p) = padding_idx else {
        return Ok(grad);
    };
    // Row p (negative counts from the end, as a Python slice does) gets no gradient.
    let bounds = SliceBounds::Range {
        start: Some(p),
        end: (p != -1).then_some(p + 1),
        step: 1,
    };
    let row = cx.add(
        "slice",
        Op::Slice {
            x: grad,
            dim: 0,
            bounds: bounds.clone(),
        },
    )?;
    let zero_row = cx.zeros_like(row)?;
    cx.add(
        "slice_scatter",
        Op::SliceScatter {
            input: grad,
            src: zero_row,
            dim: 0,
            bounds,
        },
    )
}
