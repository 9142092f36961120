//! Reductions (`sum`, `mean`, `amax`, `amin`) and `softmax`.
use super::{Value, numel, strides};
use crate::dtype::DType;
use crate::infer::check::{normalize_dim, normalize_dims};
use crate::op::ReduceOp;

/// Reduces `x` over `dims` (empty = all). Accumulates in f64 and rounds once at the end.
pub(crate) fn reduce(
    op: ReduceOp,
    x: &Value,
    dims: &[i64],
    dtype: DType,
    out_shape: &[usize],
) -> Result<Value, String> {
    let rank = x.shape.len();
    let reduced = normalize_dims(dims, rank)?;
    if matches!(op, ReduceOp::Amax | ReduceOp::Amin)
        && let Some(&d) = reduced.iter().find(|&&d| x.shape.get(d) == Some(&0))
    {
        return Err(format!(
            "{}: expected reduction dim {d} to have non-zero size (input shape {:?})",
            op.name(),
            x.shape
        ));
    }
    // The kept dims, in order, and the strides of the (keepdim=false) result over them.
    let kept: Vec<usize> = (0..rank).filter(|d| !reduced.contains(d)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| x.shape[d]).collect();
    let kept_strides = strides(&kept_shape);
    let out_len = numel(&kept_shape);
    let count = numel(&x.shape) / out_len.max(1);

    let init = match op {
        ReduceOp::Sum | ReduceOp::Mean => 0.0,
        ReduceOp::Amax => f64::NEG_INFINITY,
        ReduceOp::Amin => f64::INFINITY,
    };
    let mut acc = vec![init; out_len];
    let in_strides = strides(&x.shape);
    for (flat, &v) in x.data.iter().enumerate() {
        let mut out = 0;
        for (k, &d) in kept.iter().enumerate() {
            out += (flat / in_strides[d] % x.shape[d]) * kept_strides[k];
        }
        let a = &mut acc[out];
        *a = match op {
            ReduceOp::Sum | ReduceOp::Mean => *a + v,
            // NaN propagates, as in PyTorch.
            ReduceOp::Amax if v.is_nan() || v > *a => v,
            ReduceOp::Amin if v.is_nan() || v < *a => v,
            ReduceOp::Amax | ReduceOp::Amin => *a,
        };
        // Once NaN, stay NaN (a comparison against NaN is false, so the arms above keep it).
    }
    if op == ReduceOp::Mean {
        // Mean of nothing is NaN, as 0/0.
        let n = count as f64;
        acc.iter_mut().for_each(|a| *a /= n);
    }
    Ok(Value::rounded(dtype, out_shape.to_vec(), acc))
}

/// `softmax(x, dim)`: `exp(x - max) / sum(exp(x - max))` along `dim`.
pub(crate) fn softmax(x: &Value, dim: i64) -> Result<Value, String> {
    let d = normalize_dim(dim, x.shape.len())?;
    // A 0-d tensor is a single slice of length 1.
    let (outer, len, inner) = if x.shape.is_empty() {
        (1, 1, 1)
    } else {
        (numel(&x.shape[..d]), x.shape[d], numel(&x.shape[d + 1..]))
    };
    let mut out = vec![0.0; x.data.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len)
                .map(|j| x.data[at(j)])
                .fold(
                    f64::NEG_INFINITY,
                    |m, v| if v.is_nan() || v > m { v } else { m },
                );
            let exps: Vec<f64> = (0..len).map(|j| (x.data[at(j)] - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            for (j, e) in exps.into_iter().enumerate() {
                out[at(j)] = e / sum;
            }
        }
    }
    Ok(Value::rounded(x.dtype, x.shape.clone(), out))
}
