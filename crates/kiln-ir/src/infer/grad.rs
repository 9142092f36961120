//! Checks and shape rules of the gradient family (`sum_to`, `expand_as`, `reshape_as`,
//! `slice_scatter`): the result takes another value's shape, and every size-dependent
//! decision (is this dim broadcast? do the element counts agree?) goes through the shape
//! environment, so it becomes a guard only where the symbols' ranges do not decide it.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::TensorType;
use super::check::{Lookup, ValueInfo, normalize_dim};
use super::movement::slice_range;
use super::shapes::{known_one, show_shape};
use crate::graph::NodeId;
use crate::op::Op;

/// Dtype and rank of a gradient-family op (no sizes needed).
pub(crate) fn check(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    let rank_of = |id: NodeId| -> Result<Option<usize>, String> { Ok(lookup(id)?.rank) };
    match op {
        Op::SumTo { x, like } | Op::ExpandAs { x, like } | Op::ReshapeAs { x, like } => {
            let xi = lookup(*x)?;
            let rank = rank_of(*like)?;
            if let (Some(xr), Some(lr)) = (xi.rank, rank) {
                if matches!(op, Op::SumTo { .. }) && xr < lr {
                    return Err(format!(
                        "cannot sum a rank-{xr} tensor to the shape of a rank-{lr} tensor \
                         (sum_to only removes dims)"
                    ));
                }
                if matches!(op, Op::ExpandAs { .. }) && xr > lr {
                    return Err(format!(
                        "cannot expand a rank-{xr} tensor to the shape of a rank-{lr} tensor \
                         (expand only adds leading dims)"
                    ));
                }
            }
            Ok(ValueInfo {
                dtype: xi.dtype,
                rank,
            })
        }
        Op::SliceScatter {
            input, src, dim, ..
        } => {
            // src is copied into input's dtype (`torch.slice_scatter` casts as `copy_` does).
            let i = lookup(*input)?;
            let s = lookup(*src)?;
            if let (Some(ir), Some(sr)) = (i.rank, s.rank) {
                if ir != sr {
                    return Err(format!(
                        "src has rank {sr} but input has rank {ir} (slice_scatter needs equal ranks)"
                    ));
                }
                normalize_dim(*dim, ir)?;
            }
            Ok(i)
        }
        Op::CatPart {
            x,
            parts,
            dim,
            index,
        } => {
            let xi = lookup(*x)?;
            let part = parts.get(*index).ok_or_else(|| {
                format!("index {index} is out of range for {} parts", parts.len())
            })?;
            let pi = lookup(*part)?;
            if let Some(r) = xi.rank {
                normalize_dim(*dim, r)?;
            }
            Ok(ValueInfo {
                dtype: xi.dtype,
                rank: pi.rank.or(xi.rank),
            })
        }
        _ => unreachable!("grad::check is only called for gradient-family ops"),
    }
}

fn shape_of(types: &[TensorType], id: NodeId) -> Result<&[Expr], OpError> {
    types
        .get(id.index())
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| OpError::Invalid(format!("operand #{} is not defined", id.index())))
}

fn equal(env: &mut ShapeEnv, a: &Expr, b: &Expr) -> Result<bool, OpError> {
    Ok(a == b || env.decide(&Cond::eq(a.clone(), b.clone()))?)
}

fn numel(shape: &[Expr]) -> Expr {
    shape.iter().fold(Expr::int(1), |acc, d| &acc * d)
}

/// The offset of block `index` of a `cat_part` along `dim` (already normalised): the sum of
/// the earlier parts' sizes. Shared with lowering.
pub fn cat_part_offset(shapes: &[&[Expr]], dim: usize, index: usize) -> Expr {
    shapes[..index]
        .iter()
        .fold(Expr::int(0), |acc, s| &acc + &s[dim])
}

/// The dims of `xs` that `sum_to(x, like)` sums over, ascending: `x`'s extra leading dims, and
/// each dim where `like` is 1 and `x` is not known to equal it. The env answers each question
/// (so a symbol that may be 1 becomes a guard), in the same order for inference and lowering.
fn sum_to_dims_of(env: &mut ShapeEnv, xs: &[Expr], ls: &[Expr]) -> Result<Vec<usize>, OpError> {
    let lead = xs.len() - ls.len();
    let mut dims: Vec<usize> = (0..lead).collect();
    for (i, l) in ls.iter().enumerate() {
        let d = &xs[lead + i];
        if equal(env, d, l)? {
            continue;
        }
        if !known_one(env, l)? {
            return Err(OpError::Invalid(format!(
                "cannot sum shape {} to shape {}: dim {i} of the target is {l}, which is \
                 neither 1 nor the source's {d}",
                show_shape(xs),
                show_shape(ls)
            )));
        }
        dims.push(lead + i);
    }
    Ok(dims)
}

/// [`sum_to_dims_of`] for the scheduler, which lowers a `sum_to` that inference accepted.
pub fn sum_to_dims(env: &mut ShapeEnv, xs: &[Expr], ls: &[Expr]) -> Result<Vec<usize>, String> {
    if xs.len() < ls.len() {
        return Err(format!(
            "cannot sum a rank-{} tensor to a rank-{} shape",
            xs.len(),
            ls.len()
        ));
    }
    sum_to_dims_of(env, xs, ls).map_err(|e| match e {
        OpError::Invalid(m) => m,
        OpError::Shape(s) => s.to_string(),
    })
}

/// The shape of a gradient-family op's result.
pub(crate) fn infer(
    op: &Op,
    types: &[TensorType],
    env: &mut ShapeEnv,
) -> Result<Vec<Expr>, OpError> {
    match op {
        Op::SumTo { x, like } => {
            let (xs, ls) = (shape_of(types, *x)?, shape_of(types, *like)?);
            sum_to_dims_of(env, xs, ls)?;
            Ok(ls.to_vec())
        }
        Op::ExpandAs { x, like } => {
            let (xs, ls) = (shape_of(types, *x)?, shape_of(types, *like)?);
            let lead = ls.len() - xs.len();
            for (i, d) in xs.iter().enumerate() {
                let l = &ls[lead + i];
                if !equal(env, d, l)? && !known_one(env, d)? {
                    return Err(OpError::Invalid(format!(
                        "cannot expand shape {} to shape {}: dim {i} is {d}, which is neither 1 \
                         nor the target's {l}",
                        show_shape(xs),
                        show_shape(ls)
                    )));
                }
            }
            Ok(ls.to_vec())
        }
        Op::ReshapeAs { x, like } => {
            let (xs, ls) = (shape_of(types, *x)?, shape_of(types, *like)?);
            if !equal(env, &numel(xs), &numel(ls))? {
                return Err(OpError::Invalid(format!(
                    "cannot reshape shape {} into shape {}: the element counts differ",
                    show_shape(xs),
                    show_shape(ls)
                )));
            }
            Ok(ls.to_vec())
        }
        Op::SliceScatter {
            input,
            src,
            dim,
            bounds,
        } => {
            let (is, ss) = (shape_of(types, *input)?, shape_of(types, *src)?);
            let range = slice_range(env, is, *dim, bounds).map_err(OpError::Invalid)?;
            let d = normalize_dim(*dim, is.len()).map_err(OpError::Invalid)?;
            for (i, (a, b)) in is.iter().zip(ss).enumerate() {
                let want = if i == d { &range.len } else { a };
                if !equal(env, want, b)? {
                    return Err(OpError::Invalid(format!(
                        "src has shape {} but the slice of input {} it is written into has {want} \
                         at dim {i}",
                        show_shape(ss),
                        show_shape(is)
                    )));
                }
            }
            Ok(is.to_vec())
        }
        Op::CatPart {
            x,
            parts,
            dim,
            index,
        } => {
            let xs = shape_of(types, *x)?;
            let d = normalize_dim(*dim, xs.len()).map_err(OpError::Invalid)?;
            let mut total = Expr::int(0);
            for &p in parts {
                let ps = shape_of(types, p)?;
                let size = ps.get(d).ok_or_else(|| {
                    OpError::Invalid(format!("part shape {} has no dim {d}", show_shape(ps)))
                })?;
                total = &total + size;
            }
            if !equal(env, &xs[d], &total)? {
                return Err(OpError::Invalid(format!(
                    "dim {d} of {} is not the sum {total} of the parts' sizes",
                    show_shape(xs)
                )));
            }
            let mut out = xs.to_vec();
            out[d] = shape_of(types, parts[*index])?[d].clone();
            Ok(out)
        }
        _ => unreachable!("grad::infer is only called for gradient-family ops"),
    }
}
