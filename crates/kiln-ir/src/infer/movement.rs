//! Checks and shape rules of the data movement ops (`cat`, slices, `select`, `pad`,
//! `repeat`), with PyTorch's errors. Every size-dependent decision (a bound clamped to the
//! dim, a split's part count, a reflect pad smaller than its dim) goes through the shape
//! environment, so it becomes a guard only where the symbols' ranges do not decide it.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::check::{Lookup, ValueInfo, normalize_dim};
use super::shapes::show_shape;
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{Op, PadMode, SliceBounds, Split};

/// Sizes are far below this, so clamping literal bounds to it changes no result and keeps
/// `size + bound` from overflowing.
const BOUND_LIMIT: i64 = 1 << 62;

/// The elements a slice keeps: `start + i * step` for `i < len`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRange {
    pub start: Expr,
    pub len: Expr,
    pub step: i64,
}

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

/// A Python bound (`None` is `default`) clamped into `0..=size`.
fn python_bound(
    env: &mut ShapeEnv,
    size: &Expr,
    b: Option<i64>,
    default: Expr,
) -> Result<Expr, OpError> {
    let Some(v) = b.map(|v| v.clamp(-BOUND_LIMIT, BOUND_LIMIT)) else {
        return Ok(default);
    };
    if v >= 0 {
        let v = Expr::int(v);
        return Ok(if env.decide(&Cond::le(v.clone(), size.clone()))? {
            v
        } else {
            size.clone()
        });
    }
    let from_end = size + &Expr::int(v);
    Ok(if env.decide(&Cond::ge(from_end.clone(), Expr::int(0)))? {
        from_end
    } else {
        Expr::int(0)
    })
}

/// The range a slice of dim `dim` (already normalised) of `shape` keeps.
pub(crate) fn slice_range_of(
    env: &mut ShapeEnv,
    shape: &[Expr],
    dim: usize,
    bounds: &SliceBounds,
) -> Result<SliceRange, OpError> {
    let size = shape[dim].clone();
    match bounds {
        SliceBounds::Range { start, end, step } => {
            let start = python_bound(env, &size, *start, Expr::int(0))?;
            let end = python_bound(env, &size, *end, size.clone())?;
            let len = if env.decide(&Cond::gt(end.clone(), start.clone()))? {
                (&(&end - &start) + &Expr::int(step - 1)).floor_div(&Expr::int(*step))
            } else {
                Expr::int(0)
            };
            Ok(SliceRange {
                start,
                len,
                step: *step,
            })
        }
        SliceBounds::Narrow { start, length } => {
            let v = (*start).clamp(-BOUND_LIMIT, BOUND_LIMIT);
            let out_of_range = || {
                format!(
                    "start out of range (expected to be in range of [-{size}, {size}], but got {start})"
                )
            };
            let begin = if v < 0 {
                let from_end = &size + &Expr::int(v);
                require(env, Cond::ge(from_end.clone(), Expr::int(0)), out_of_range)?;
                from_end
            } else {
                require(env, Cond::le(Expr::int(v), size.clone()), out_of_range)?;
                Expr::int(v)
            };
            let length = Expr::int((*length).min(BOUND_LIMIT));
            require(env, Cond::le(&begin + &length, size.clone()), || {
                format!("start ({begin}) + length ({length}) exceeds dimension size ({size}).")
            })?;
            Ok(SliceRange {
                start: begin,
                len: length,
                step: 1,
            })
        }
        SliceBounds::Part {
            split,
            index,
            count,
        } => part_range(env, &size, dim, split, *index, *count),
    }
}

/// Part `index` of `count` of `split` of a dim of `size`: PyTorch's `split`/`chunk` sizes.
fn part_range(
    env: &mut ShapeEnv,
    size: &Expr,
    dim: usize,
    split: &Split,
    index: usize,
    count: usize,
) -> Result<SliceRange, OpError> {
    let (i, n) = (index as i64, count as i64);
    let zero = Expr::int(0);
    let part = |start: Expr, len: Expr| {
        Ok(SliceRange {
            start,
            len,
            step: 1,
        })
    };
    if let Split::Sections(v) = split {
        let sum: i64 = v.iter().sum();
        require(env, Cond::eq(size.clone(), Expr::int(sum)), || {
            format!(
                "split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's \
                 size at dimension {dim}), but got split_sizes={v:?}"
            )
        })?;
        return part(Expr::int(v[..index].iter().sum()), Expr::int(v[index]));
    }
    let empty = env.decide(&Cond::eq(size.clone(), zero.clone()))?;
    let piece = match split {
        Split::Size(0) if !empty => {
            return Err(OpError::Invalid(format!(
                "split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )));
        }
        Split::Size(s) => Expr::int(*s),
        Split::Chunks(c) => (size + &Expr::int(c - 1)).floor_div(&Expr::int(*c)),
        Split::Sections(_) => unreachable!("handled above"),
    };
    if empty {
        // An empty dim splits into one empty part; chunk gives `chunks` of them.
        let parts = match split {
            Split::Chunks(c) => *c,
            _ => 1,
        };
        if parts != n {
            return Err(parts_error(split, size, parts.to_string(), count));
        }
        return part(zero.clone(), zero);
    }
    // ceil(size / piece) == count: (count - 1) * piece < size <= count * piece.
    let before = &Expr::int(n - 1) * &piece;
    let fits = env.decide(&Cond::lt(before.clone(), size.clone()))?
        && env.decide(&Cond::le(size.clone(), &Expr::int(n) * &piece))?;
    if !fits {
        return Err(parts_error(
            split,
            size,
            "a different number of".to_string(),
            count,
        ));
    }
    let start = &Expr::int(i) * &piece;
    let len = if index + 1 == count {
        size - &before
    } else {
        piece
    };
    part(start, len)
}

fn parts_error(split: &Split, size: &Expr, parts: String, count: usize) -> OpError {
    let how = match split {
        Split::Size(s) => format!("split(split_size={s})"),
        Split::Chunks(c) => format!("chunk(chunks={c})"),
        Split::Sections(v) => format!("split({v:?})"),
    };
    OpError::Invalid(format!(
        "{how} of a dim of size {size} returns {parts} parts, but {count} results are assigned"
    ))
}

/// The index `select` reads along its dim (a negative index counts from the end).
pub(crate) fn select_index_of(
    env: &mut ShapeEnv,
    shape: &[Expr],
    dim: usize,
    index: i64,
) -> Result<Expr, OpError> {
    let size = shape[dim].clone();
    let v = index.clamp(-BOUND_LIMIT, BOUND_LIMIT);
    let msg = || {
        format!(
            "select(): index {index} out of range for tensor of size {} at dimension {dim}",
            show_shape(shape)
        )
    };
    if v < 0 {
        let from_end = &size + &Expr::int(v);
        require(env, Cond::ge(from_end.clone(), Expr::int(0)), msg)?;
        Ok(from_end)
    } else {
        require(env, Cond::lt(Expr::int(v), size), msg)?;
        Ok(Expr::int(v))
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
