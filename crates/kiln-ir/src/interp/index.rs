//! The index family's reference: `argmax`/`argmin`.
use super::{Value, numel, strides};
use crate::dtype::DType;
use crate::infer::check::normalize_dim;

/// Whether `v` replaces the best value so far `best`: strictly better, or the first NaN (a
/// NaN is the extreme of both argmax and argmin in torch; ties keep the first position).
fn better(v: f64, best: f64, largest: bool) -> bool {
    if best.is_nan() {
        return false;
    }
    v.is_nan() || if largest { v > best } else { v < best }
}

/// The i64 index of the first maximum (`largest`) or minimum of `x` along `dim`, or in the
/// flattened input when `dim` is `None`. Shape inference refused empty reductions.
pub(crate) fn arg_extreme(
    x: &Value,
    dim: Option<i64>,
    largest: bool,
    out_shape: &[usize],
) -> Result<Value, String> {
    // (outer, reduced, inner) extents of the reduction viewed as a 3-d array.
    let (outer, len, inner) = match dim {
        None => (1, numel(&x.shape), 1),
        Some(_) if x.shape.is_empty() => (1, 1, 1),
        Some(d) => {
            let d = normalize_dim(d, x.shape.len())?;
            let s = strides(&x.shape);
            (numel(&x.shape[..d]), x.shape[d], s[d])
        }
    };
    if len == 0 && outer * inner > 0 {
        return Err("cannot take the arg-extreme of an empty dim".into());
    }
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| x.data[(o * len + r) * inner + i];
            let mut best = (0usize, at(0));
            for r in 1..len {
                if better(at(r), best.1, largest) {
                    best = (r, at(r));
                }
            }
            out.push(best.0 as f64);
        }
    }
    Ok(Value::rounded(DType::I64, out_shape.to_vec(), out))
}

/// Running sums of `x` along `dim`, accumulated in f64 and rounded to `dtype` per element.
pub(crate) fn cumsum(x: &Value, dim: i64, dtype: DType) -> Result<Value, String> {
    let (outer, len, inner) = if x.shape.is_empty() {
        (1, 1, 1)
    } else {
        let d = normalize_dim(dim, x.shape.len())?;
        (numel(&x.shape[..d]), x.shape[d], strides(&x.shape)[d])
    };
    let mut out = x.data.clone();
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = 0.0;
            for r in 0..len {
                let at = (o * len + r) * inner + i;
                acc += x.data[at];
                out[at] = acc;
            }
        }
    }
    Ok(Value::rounded(dtype, x.shape.clone(), out))
}

pub(crate) mod gather;
