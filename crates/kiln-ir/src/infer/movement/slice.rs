//! Slices (`slice`, `narrow`, `split`/`chunk` parts) and `select`: the range of one dim they
//! read, from its symbolic size, with Python's and PyTorch's bound rules.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::{BOUND_LIMIT, require};
use crate::infer::OpError;
use crate::infer::shapes::show_shape;
use crate::op::{SliceBounds, Split};

/// The elements a slice keeps: `start + i * step` for `i < len`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRange {
    pub start: Expr,
    pub len: Expr,
    pub step: i64,
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
