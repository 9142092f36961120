//! Checks and shape rules of the data movement ops (`cat`, slices, `select`, `pad`,
//! `repeat`), with PyTorch's errors. Every size-dependent decision (a bound clamped to the
//! dim, a split's part count, a reflect pad smaller than its dim) goes through the shape
//! environment, so it becomes a guard only where the symbols' ranges do not decide it.
use kiln_shape::{Cond, Expr, ShapeEnv};

mod slice;

pub use slice::SliceRange;
use slice::{select_index_of, slice_range_of};

use super::OpError;
use super::check::{Lookup, ValueInfo, normalize_dim};
use super::shapes::show_shape;
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{Op, PadMode, SliceBounds, Split};

/// Sizes are far below this, so clamping literal bounds to it changes no result and keeps
/// `size + bound` from overflowing.
const BOUND_LIMIT: i64 = 1 << 62;

fn need_rank(x: ValueInfo, op: &str) -> Result<ValueInfo, String> {
    if x.rank == Some(0) {
        return Err(format!("{op}() cannot be applied to a 0-dim tensor."));
    }
    Ok(x)
}

/// Dtype and rank of a movement op (no sizes needed).
pub(crate) fn check(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    match op {
        Op::Cat { xs, dim } => check_cat(xs, *dim, lookup),
        Op::Slice { x, dim, bounds } => {
            let x = need_rank(lookup(*x)?, bounds.op_name().trim_end_matches("_part"))?;
            if let Some(r) = x.rank {
                normalize_dim(*dim, r)?;
            }
            check_bounds(bounds)?;
            Ok(x)
        }
        Op::Select { x, dim, .. } => {
            let x = need_rank(lookup(*x)?, "select")?;
            if let Some(r) = x.rank {
                normalize_dim(*dim, r)?;
            }
            Ok(ValueInfo {
                dtype: x.dtype,
                rank: x.rank.map(|r| r - 1),
            })
        }
        Op::Pad { x, pad, mode, .. } => check_pad(lookup(*x)?, pad, *mode),
        Op::Repeat { x, repeats } => {
            let x = lookup(*x)?;
            if x.rank.is_some_and(|r| repeats.len() < r) {
                return Err(
                    "Number of dimensions of repeat dims can not be smaller than \
                            number of dimensions of tensor"
                        .to_string(),
                );
            }
            if let Some(r) = repeats.iter().find(|&&r| r < 0) {
                return Err(format!(
                    "Trying to create tensor with negative dimension {r}: repeats {repeats:?}"
                ));
            }
            Ok(ValueInfo {
                dtype: x.dtype,
                rank: Some(repeats.len()),
            })
        }
        _ => unreachable!("not a movement op: {}", op.name()),
    }
}

fn check_cat(xs: &[NodeId], dim: i64, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    if xs.is_empty() {
        return Err("torch.cat(): expected a non-empty list of Tensors".to_string());
    }
    let infos = xs
        .iter()
        .map(|&x| lookup(x))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rank = None;
    for (k, info) in infos.iter().enumerate() {
        match (info.rank, rank) {
            (Some(0), _) => {
                return Err(format!(
                    "zero-dimensional tensor (at position {k}) cannot be concatenated"
                ));
            }
            (Some(r), Some(r0)) if r != r0 => {
                return Err(format!(
                    "Tensors must have same number of dimensions: got {r0} and {r}"
                ));
            }
            (Some(r), None) => rank = Some(r),
            _ => {}
        }
    }
    if let Some(r) = rank {
        normalize_dim(dim, r)?;
    }
    let tensors: Vec<(DType, bool)> = infos.iter().map(|i| (i.dtype, false)).collect();
    Ok(ValueInfo {
        dtype: DType::result_type(&tensors, false),
        rank,
    })
}

fn check_bounds(bounds: &SliceBounds) -> Result<(), String> {
    match bounds {
        SliceBounds::Range { step, .. } if *step < 1 => {
            Err("slice step must be positive".to_string())
        }
        SliceBounds::Narrow { length, .. } if *length < 0 => {
            Err("narrow(): length must be non-negative.".to_string())
        }
        SliceBounds::Part { index, count, .. } if index >= count => Err(format!(
            "part {index} of a split into {count} parts does not exist"
        )),
        SliceBounds::Part { split, count, .. } => match split {
            Split::Size(s) if *s < 0 => Err(format!(
                "split expects split_size be non-negative, but got split_size={s}"
            )),
            Split::Chunks(c) if *c < 1 => Err(format!(
                "chunk expects `chunks` to be greater than 0, got: {c}"
            )),
            Split::Sections(v) if v.iter().any(|&s| s < 0) => Err(format!(
                "split_with_sizes expects split_sizes have only non-negative entries, but got \
                 split_sizes={v:?}"
            )),
            Split::Sections(v) if v.len() != *count => Err(format!(
                "split_with_sizes returns {} parts (split_sizes={v:?}), not {count}",
                v.len()
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_pad(x: ValueInfo, pad: &[i64], mode: PadMode) -> Result<ValueInfo, String> {
    if !pad.len().is_multiple_of(2) {
        return Err("Padding length must be divisible by 2".to_string());
    }
    let Some(rank) = x.rank else { return Ok(x) };
    if pad.len() / 2 > rank {
        return Err(format!(
            "Padding length should be less than or equal to two times the input dimension but \
             got padding length {} and input of dimension {rank}",
            pad.len()
        ));
    }
    if mode != PadMode::Constant {
        let pairs = pad.len() / 2;
        if !(1..=3).contains(&pairs) || !(rank == pairs + 1 || rank == pairs + 2) {
            return Err(format!(
                "Padding size {} is not supported for {rank}D input tensor.",
                pad.len()
            ));
        }
        if x.dtype == DType::Bool {
            return Err(format!(
                "pad(mode=\"{}\") is not implemented for 'Bool'",
                mode.name()
            ));
        }
    }
    Ok(x)
}

/// Decides `cond`; an error with `msg` when it does not hold.
fn require(env: &mut ShapeEnv, cond: Cond, msg: impl FnOnce() -> String) -> Result<(), OpError> {
    if env.decide(&cond)? {
        Ok(())
    } else {
        Err(OpError::Invalid(msg()))
    }
}

/// The result shape of a movement op.
pub(crate) fn infer(op: &Op, shapes: &[&[Expr]], env: &mut ShapeEnv) -> Result<Vec<Expr>, OpError> {
    let x = shapes[0];
    match op {
        Op::Cat { dim, .. } => infer_cat(shapes, normalize_dim(*dim, x.len())?, env),
        Op::Slice { dim, bounds, .. } => {
            let d = normalize_dim(*dim, x.len())?;
            let r = slice_range_of(env, x, d, bounds)?;
            let mut out = x.to_vec();
            out[d] = r.len;
            Ok(out)
        }
        Op::Select { dim, index, .. } => {
            let d = normalize_dim(*dim, x.len())?;
            select_index_of(env, x, d, *index)?;
            let mut out = x.to_vec();
            out.remove(d);
            Ok(out)
        }
        Op::Pad { pad, mode, .. } => infer_pad(x, pad, *mode, env),
        Op::Repeat { repeats, .. } => {
            let lead = repeats.len() - x.len();
            Ok(repeats
                .iter()
                .enumerate()
                .map(|(j, &r)| match j.checked_sub(lead) {
                    Some(k) => &x[k] * &Expr::int(r),
                    None => Expr::int(r),
                })
                .collect())
        }
        _ => unreachable!("not a movement op: {}", op.name()),
    }
}

fn infer_cat(shapes: &[&[Expr]], dim: usize, env: &mut ShapeEnv) -> Result<Vec<Expr>, OpError> {
    let mut out = shapes[0].to_vec();
    for (k, s) in shapes.iter().enumerate().skip(1) {
        for (j, (a, b)) in shapes[0].iter().zip(s.iter()).enumerate() {
            if j == dim {
                continue;
            }
            if a != b && !env.decide(&Cond::eq(a.clone(), b.clone()))? {
                return Err(OpError::Invalid(format!(
                    "Sizes of tensors must match except in dimension {dim}. Expected size {a} \
                     but got size {b} for tensor number {k} in the list."
                )));
            }
        }
        out[dim] = &out[dim] + &s[dim];
    }
    Ok(out)
}

/// The padded dims as `(dim, left, right)`, last dim first as PyTorch lists them.
pub fn pad_pairs(rank: usize, pad: &[i64]) -> Vec<(usize, i64, i64)> {
    pad.chunks(2)
        .enumerate()
        .map(|(p, lr)| (rank - 1 - p, lr[0], lr[1]))
        .collect()
}

fn infer_pad(
    x: &[Expr],
    pad: &[i64],
    mode: PadMode,
    env: &mut ShapeEnv,
) -> Result<Vec<Expr>, OpError> {
    let mut out = x.to_vec();
    for (d, l, r) in pad_pairs(x.len(), pad) {
        let (l, r) = (
            l.clamp(-BOUND_LIMIT, BOUND_LIMIT),
            r.clamp(-BOUND_LIMIT, BOUND_LIMIT),
        );
        let s = &x[d];
        if mode == PadMode::Reflect {
            let fits = env.decide(&Cond::lt(Expr::int(l), s.clone()))?
                && env.decide(&Cond::lt(Expr::int(r), s.clone()))?;
            if !fits {
                return Err(OpError::Invalid(format!(
                    "Argument #4: Padding size should be less than the corresponding input \
                     dimension, but got: padding ({l}, {r}) at dimension {d} of input {}",
                    show_shape(x)
                )));
            }
        }
        if mode == PadMode::Replicate {
            require(env, Cond::ge(s.clone(), Expr::int(1)), || {
                format!(
                    "pad(mode=\"replicate\"): dim {d} of input {} is empty",
                    show_shape(x)
                )
            })?;
        }
        let size = &(s + &Expr::int(l)) + &Expr::int(r);
        require(env, Cond::ge(size.clone(), Expr::int(0)), || {
            format!(
                "The input size {s}, plus negative padding {l} and {r} resulted in a negative \
                 output size, which is invalid. Check dimension {d} of your input."
            )
        })?;
        out[d] = size;
    }
    Ok(out)
}

/// [`slice_range_of`] for the scheduler, which lowers a slice that inference accepted.
pub fn slice_range(
    env: &mut ShapeEnv,
    shape: &[Expr],
    dim: i64,
    bounds: &SliceBounds,
) -> Result<SliceRange, String> {
    let d = normalize_dim(dim, shape.len())?;
    slice_range_of(env, shape, d, bounds).map_err(op_message)
}

/// [`select_index_of`] for the scheduler.
pub fn select_index(
    env: &mut ShapeEnv,
    shape: &[Expr],
    dim: i64,
    index: i64,
) -> Result<Expr, String> {
    let d = normalize_dim(dim, shape.len())?;
    select_index_of(env, shape, d, index).map_err(op_message)
}

fn op_message(e: OpError) -> String {
    match e {
        OpError::Invalid(m) => m,
        OpError::Shape(s) => s.to_string(),
    }
}
