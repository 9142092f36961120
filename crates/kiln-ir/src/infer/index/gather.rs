//! Checks and shape rules of the gather ops (`index_select`, `gather`, `scatter_add`,
//! `index_add`), with PyTorch's messages. The index tensor must be int64 (kiln has no
//! int32); every size relation goes through the shape environment, so it becomes a guard only
//! where the symbols' ranges do not decide it. Index *values* are checked when the op runs.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::super::OpError;
use super::super::TensorType;
use super::super::check::{Lookup, ValueInfo, normalize_dim};
use super::super::shapes::show_shape;
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::Op;

/// The (input, index, optional source) operands and dim of a gather op.
fn parts(op: &Op) -> (NodeId, NodeId, Option<NodeId>, i64) {
    match *op {
        Op::IndexSelect { x, dim, index } | Op::Gather { x, dim, index } => (x, index, None, dim),
        Op::ScatterAdd {
            x, dim, index, src, ..
        }
        | Op::IndexAdd {
            x,
            dim,
            index,
            source: src,
            ..
        } => (x, index, Some(src), dim),
        _ => unreachable!(
            "gather::parts is only called for index_select, gather, scatter_add, index_add"
        ),
    }
}

/// Whether the op takes a 1-D index along `dim` (`index_select`, `index_add`) rather than
/// one index per position (`gather`, `scatter_add`).
fn vector_index(op: &Op) -> bool {
    matches!(op, Op::IndexSelect { .. } | Op::IndexAdd { .. })
}

/// Dtype and rank of a gather op: the input's (an embedding's: the weight's dtype, the
/// indices' rank plus one).
pub(crate) fn check_gather(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    let name = op.name();
    if let Op::Embedding {
        indices, weight, ..
    } = *op
    {
        let (ii, wi) = (lookup(indices)?, lookup(weight)?);
        if ii.dtype != DType::I64 {
            return Err(format!(
                "embedding(): expected int64 indices (the first argument), found {}",
                ii.dtype
            ));
        }
        if wi.rank.is_some_and(|r| r != 2) {
            return Err(format!(
                "embedding(): weight must be 2-D, found rank {}",
                wi.rank.unwrap_or(0)
            ));
        }
        return Ok(ValueInfo {
            dtype: wi.dtype,
            rank: ii.rank.map(|r| r + 1),
        });
    }
    let (x, index, src, dim) = parts(op);
    let (xi, ii) = (lookup(x)?, lookup(index)?);
    if ii.dtype != DType::I64 {
        return Err(format!(
            "{name}(): expected an int64 index tensor, found {} (cast with to(dtype=i64))",
            ii.dtype
        ));
    }
    if let Some(r) = xi.rank {
        normalize_dim(dim, r)?;
    }
    match (vector_index(op), ii.rank, xi.rank) {
        (true, Some(ir), _) if ir > 1 => {
            return Err(format!(
                "{name}(): index is supposed to be a vector (found rank {ir})"
            ));
        }
        (false, Some(ir), Some(xr)) if ir != xr => {
            return Err(format!(
                "{name}(): index tensor must have the same number of dimensions as input \
                 tensor (index has {ir}, input has {xr})"
            ));
        }
        _ => {}
    }
    if let Some(src) = src {
        let si = lookup(src)?;
        let what = if vector_index(op) { "source" } else { "src" };
        if si.dtype != xi.dtype {
            return Err(format!(
                "{name}(): expected {what} to have the input's dtype {}, found {}",
                xi.dtype, si.dtype
            ));
        }
        if let (Some(sr), Some(xr)) = (si.rank, xi.rank) {
            // index_add takes a 0-d source for a 0-d or 1-element input, as torch.
            if sr != xr && !(vector_index(op) && sr.max(xr) <= 1) {
                return Err(format!(
                    "{name}(): {what} has rank {sr} but input has rank {xr}"
                ));
            }
        }
    }
    Ok(xi)
}

fn shape_of(types: &[TensorType], id: NodeId) -> Result<&[Expr], OpError> {
    types
        .get(id.index())
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| OpError::Invalid(format!("operand #{} is not defined", id.index())))
}

fn holds(env: &mut ShapeEnv, c: Cond) -> Result<bool, OpError> {
    Ok(c.as_bool() == Some(true) || env.decide(&c)?)
}

fn numel(shape: &[Expr]) -> Expr {
    shape.iter().fold(Expr::int(1), |acc, d| &acc * d)
}

/// The shape of a gather op's result.
pub(crate) fn gather_shape(
    op: &Op,
    types: &[TensorType],
    env: &mut ShapeEnv,
) -> Result<Vec<Expr>, OpError> {
    let name = op.name();
    if let Op::Embedding {
        indices,
        weight,
        padding_idx,
    } = *op
    {
        let (is, ws) = (shape_of(types, indices)?, shape_of(types, weight)?);
        if let Some(p) = padding_idx {
            padding_row(p, &ws[0])?;
        }
        let mut out = is.to_vec();
        out.push(ws[1].clone());
        return Ok(out);
    }
    let (x, index, src, dim) = parts(op);
    let (xs, is) = (shape_of(types, x)?, shape_of(types, index)?);
    let d = normalize_dim(dim, xs.len())?;
    if vector_index(op) {
        let k = numel(is);
        let mut out = xs.to_vec();
        if xs.is_empty() {
            if !holds(env, Cond::eq(k.clone(), Expr::int(1)))? {
                return Err(OpError::Invalid(format!(
                    "{name}(): a 0-d input takes one index, found {k}"
                )));
            }
        } else {
            out[d] = k;
        }
        if let Some(src) = src {
            let ss = shape_of(types, src)?;
            same_shape(env, name, "source", ss, &out)?;
            return Ok(xs.to_vec());
        }
        return Ok(out);
    }
    no_larger(env, name, is, xs, Some(d), "self")?;
    if let Some(src) = src {
        no_larger(env, name, is, shape_of(types, src)?, None, "src")?;
        return Ok(xs.to_vec());
    }
    Ok(is.to_vec())
}

/// Fails unless `index` is no larger than `other` in every dim but `skip`.
fn no_larger(
    env: &mut ShapeEnv,
    name: &str,
    index: &[Expr],
    other: &[Expr],
    skip: Option<usize>,
    what: &str,
) -> Result<(), OpError> {
    for (i, (a, b)) in index.iter().zip(other).enumerate() {
        if Some(i) == skip || a == b {
            continue;
        }
        if !holds(env, Cond::le(a.clone(), b.clone()))? {
            let apart = skip.map_or(String::new(), |s| format!(" apart from dimension {s}"));
            return Err(OpError::Invalid(format!(
                "{name}(): expected index {} to be no larger than {what} {}{apart} (dim {i}: \
                 {a} > {b})",
                show_shape(index),
                show_shape(other)
            )));
        }
    }
    Ok(())
}

/// Fails unless `found` equals `want` dim by dim (a 0-d source of one element is accepted).
fn same_shape(
    env: &mut ShapeEnv,
    name: &str,
    what: &str,
    found: &[Expr],
    want: &[Expr],
) -> Result<(), OpError> {
    let ok = if found.len() == want.len() {
        let mut all = true;
        for (a, b) in found.iter().zip(want) {
            all &= a == b || holds(env, Cond::eq(a.clone(), b.clone()))?;
        }
        all
    } else {
        holds(env, Cond::eq(numel(found), numel(want)))?
    };
    if ok {
        return Ok(());
    }
    Err(OpError::Invalid(format!(
        "{name}(): {what} has shape {} but the input with the index's length at the dim has {}",
        show_shape(found),
        show_shape(want)
    )))
}

/// `padding_idx` as a row of a weight with `rows` rows: a negative one counts from the end,
/// as torch; it must name a row.
pub(crate) fn padding_row(padding_idx: i64, rows: &Expr) -> Result<i64, OpError> {
    let Some(n) = rows.as_int() else {
        return Err(OpError::Invalid(format!(
            "embedding(): padding_idx={padding_idx} needs a known number of rows, found {rows}"
        )));
    };
    let p = if padding_idx < 0 {
        padding_idx.checked_add(n)
    } else {
        Some(padding_idx)
    };
    match p {
        Some(p) if (0..n).contains(&p) => Ok(p),
        _ => Err(OpError::Invalid(format!(
            "embedding(): padding_idx={padding_idx} must be within the {n} rows of weight"
        ))),
    }
}
