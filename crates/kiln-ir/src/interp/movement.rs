//! Reference implementations of the data movement ops: each output element is found by
//! mapping its index back to an input element, written out directly in `usize` arithmetic
//! (not with the scheduler's expressions), so it checks them independently.
use super::{Value, strides};
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{Op, PadMode, SliceBounds, Split};

/// Calls `f` with every multi-index of `shape`, in C order.
pub(super) fn each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

pub(super) fn offset(shape: &[usize], idx: &[usize]) -> usize {
    strides(shape).iter().zip(idx).map(|(s, i)| s * i).sum()
}

/// Wraps a possibly negative dim (validated by inference).
pub(super) fn wrap(d: i64, rank: usize) -> usize {
    let r = rank.max(1) as i64;
    (if d < 0 { d + r } else { d }) as usize
}

/// Builds the output by reading `src(index)` of input `x` for every output index; `None`
/// reads `fill`.
fn gather(
    x: &Value,
    dtype: DType,
    shape: &[usize],
    fill: f64,
    src: impl Fn(&[usize]) -> Option<Vec<usize>>,
) -> Value {
    let mut data = Vec::with_capacity(shape.iter().product());
    each_index(shape, |o| {
        data.push(match src(o) {
            Some(i) => x.data[offset(&x.shape, &i)],
            None => fill,
        })
    });
    Value::rounded(dtype, shape.to_vec(), data)
}

pub(super) fn eval(
    op: &Op,
    values: &[Value],
    dtype: DType,
    shape: &[usize],
) -> Result<Value, String> {
    let get = |id: NodeId| {
        values
            .get(id.index())
            .ok_or_else(|| format!("operand #{} is not defined", id.index()))
    };
    match op {
        Op::Cat { xs, dim } => {
            let xs = xs.iter().map(|&x| get(x)).collect::<Result<Vec<_>, _>>()?;
            Ok(cat(&xs, wrap(*dim, shape.len()), dtype, shape))
        }
        Op::Slice { x, dim, bounds } => {
            let x = get(*x)?;
            let d = wrap(*dim, x.shape.len());
            let (start, step) = slice_start(x.shape[d] as i64, bounds);
            Ok(gather(x, dtype, shape, 0.0, |o| {
                let mut i = o.to_vec();
                i[d] = (start + o[d] as i64 * step) as usize;
                Some(i)
            }))
        }
        Op::Select { x, dim, index } => {
            let x = get(*x)?;
            let d = wrap(*dim, x.shape.len());
            let s = x.shape[d] as i64;
            let at = if *index < 0 { index + s } else { *index } as usize;
            Ok(gather(x, dtype, shape, 0.0, |o| {
                let mut i = o.to_vec();
                i.insert(d, at);
                Some(i)
            }))
        }
        Op::Pad {
            x,
            pad,
            mode,
            value,
        } => Ok(pad_value(get(*x)?, pad, *mode, *value, dtype, shape)),
        Op::Repeat { x, .. } => {
            let x = get(*x)?;
            let lead = shape.len() - x.shape.len();
            Ok(gather(x, dtype, shape, 0.0, |o| {
                Some(o[lead..].iter().zip(&x.shape).map(|(i, s)| i % s).collect())
            }))
        }
        _ => Err(format!("{} is not a movement op", op.name())),
    }
}

fn cat(xs: &[&Value], dim: usize, dtype: DType, shape: &[usize]) -> Value {
    let mut data = Vec::with_capacity(shape.iter().product());
    each_index(shape, |o| {
        let mut at = o[dim];
        for x in xs {
            if at < x.shape[dim] {
                let mut i = o.to_vec();
                i[dim] = at;
                data.push(x.data[offset(&x.shape, &i)]);
                return;
            }
            at -= x.shape[dim];
        }
    });
    Value::rounded(dtype, shape.to_vec(), data)
}

/// Python's rule for one bound of `x[start:end]` on a dim of `size`.
fn clamp_bound(b: Option<i64>, size: i64, default: i64) -> i64 {
    match b {
        None => default,
        Some(v) if v < 0 => (v.saturating_add(size)).max(0),
        Some(v) => v.min(size),
    }
}

/// The first element and the step of a slice of a dim of `size`.
pub(super) fn slice_start(size: i64, bounds: &SliceBounds) -> (i64, i64) {
    match bounds {
        SliceBounds::Range { start, step, .. } => (clamp_bound(*start, size, 0), *step),
        SliceBounds::Narrow { start, .. } => (if *start < 0 { start + size } else { *start }, 1),
        SliceBounds::Part { split, index, .. } => {
            let i = *index as i64;
            let start = match split {
                Split::Size(s) => i * s,
                Split::Chunks(c) => i * ((size + c - 1) / c),
                Split::Sections(v) => v[..*index].iter().sum(),
            };
            (start, 1)
        }
    }
}

fn pad_value(
    x: &Value,
    pad: &[i64],
    mode: PadMode,
    value: f64,
    dtype: DType,
    shape: &[usize],
) -> Value {
    let rank = shape.len();
    gather(x, dtype, shape, value, |o| {
        let mut i: Vec<usize> = o.to_vec();
        for (p, lr) in pad.chunks(2).enumerate() {
            let d = rank - 1 - p;
            let s = x.shape[d] as i64;
            let mut k = o[d] as i64 - lr[0];
            match mode {
                PadMode::Constant if k < 0 || k >= s => return None,
                PadMode::Constant => {}
                PadMode::Reflect => {
                    if k < 0 {
                        k = -k;
                    }
                    if k >= s {
                        k = 2 * (s - 1) - k;
                    }
                }
                PadMode::Replicate => k = k.clamp(0, s - 1),
            }
            i[d] = k as usize;
        }
        Some(i)
    })
}
