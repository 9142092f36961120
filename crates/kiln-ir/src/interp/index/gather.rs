//! The gather ops' reference (`index_select`, `gather`, `scatter_add`, `index_add`): plain
//! loops over C-order positions. Every index is checked against its dim before use, with
//! PyTorch's message; additions accumulate in f64 in the order of the index's positions and
//! round once, as the rest of the interpreter does.
use super::super::{Value, numel, strides};
use crate::dtype::DType;
use crate::infer::check::normalize_dim;
use crate::op::Op;

/// The position an index value names in a dim of `size`, or PyTorch's error.
pub(crate) fn checked_index(v: f64, dim: usize, size: usize) -> Result<usize, String> {
    if v >= 0.0 && v < size as f64 {
        Ok(v as usize)
    } else {
        Err(format!(
            "index {v} is out of bounds for dimension {dim} with size {size} (index out of \
             range in self)"
        ))
    }
}

/// `shape` seen with at least one dim (a 0-d tensor as `[1]`), and `dim` normalised.
fn view(shape: &[usize], dim: i64) -> Result<(Vec<usize>, usize), String> {
    let d = normalize_dim(dim, shape.len())?;
    let s = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    Ok((s, d))
}

/// Evaluates a gather op; `values` are the earlier nodes' values.
pub(crate) fn eval<'v>(
    op: &Op,
    get: &dyn Fn(crate::graph::NodeId) -> Result<&'v Value, String>,
    dtype: DType,
    shape: &[usize],
) -> Result<Value, String> {
    match *op {
        Op::IndexSelect { x, dim, index } => {
            let (x, index) = (get(x)?, get(index)?);
            let data = along(x, dim, index, None, 1.0)?;
            Ok(Value::rounded(dtype, shape.to_vec(), data))
        }
        Op::IndexAdd {
            x,
            dim,
            index,
            source,
            alpha,
        } => {
            let (x, index, source) = (get(x)?, get(index)?, get(source)?);
            let data = along(x, dim, index, Some(source), alpha)?;
            Ok(Value::rounded(dtype, shape.to_vec(), data))
        }
        Op::Gather { x, dim, index } => {
            let data = pointwise(get(x)?, dim, get(index)?, None)?;
            Ok(Value::rounded(dtype, shape.to_vec(), data))
        }
        Op::ScatterAdd { x, dim, index, src } => {
            let data = pointwise(get(x)?, dim, get(index)?, Some(get(src)?))?;
            Ok(Value::rounded(dtype, shape.to_vec(), data))
        }
        Op::Embedding {
            indices, weight, ..
        } => {
            // The rows of `weight` at the flattened indices: index_select along dim 0.
            let data = along(get(weight)?, 0, get(indices)?, None, 1.0)?;
            Ok(Value::rounded(dtype, shape.to_vec(), data))
        }
        _ => unreachable!("gather::eval is only called for gather ops"),
    }
}

/// `index_select` (no `source`: the selected slices) or `index_add` (`x` with `alpha *
/// source` slice `k` added into slice `index[k]`), in the (outer, dim, inner) view of `x`.
fn along(
    x: &Value,
    dim: i64,
    index: &Value,
    source: Option<&Value>,
    alpha: f64,
) -> Result<Vec<f64>, String> {
    let (xs, d) = view(&x.shape, dim)?;
    let (outer, size, inner) = (numel(&xs[..d]), xs[d], numel(&xs[d + 1..]));
    let k = index.data.len();
    let idx = index
        .data
        .iter()
        .map(|&v| checked_index(v, d, size))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(source) = source else {
        let mut out = Vec::with_capacity(outer * k * inner);
        for o in 0..outer {
            for &r in &idx {
                let at = (o * size + r) * inner;
                out.extend_from_slice(&x.data[at..at + inner]);
            }
        }
        return Ok(out);
    };
    let mut out = x.data.clone();
    for o in 0..outer {
        for (j, &r) in idx.iter().enumerate() {
            for i in 0..inner {
                out[(o * size + r) * inner + i] += alpha * source.data[(o * k + j) * inner + i];
            }
        }
    }
    Ok(out)
}

/// `gather` (no `src`: `out[p] = x[p with p[dim] = index[p]]`) or `scatter_add` (`x` with
/// `src[p]` added at `p with p[dim] = index[p]`), over the C-order positions `p` of `index`.
fn pointwise(x: &Value, dim: i64, index: &Value, src: Option<&Value>) -> Result<Vec<f64>, String> {
    let (xs, d) = view(&x.shape, dim)?;
    let is = if index.shape.is_empty() {
        vec![1]
    } else {
        index.shape.clone()
    };
    let (xst, ist) = (strides(&xs), strides(&is));
    let sst = src.map(|s| strides(if s.shape.is_empty() { &[1] } else { &s.shape }));
    let mut out = match src {
        Some(_) => x.data.clone(),
        None => Vec::with_capacity(index.data.len()),
    };
    for (flat, &v) in index.data.iter().enumerate() {
        let r = checked_index(v, d, xs[d])?;
        let (mut at, mut src_at) = (0, 0);
        for j in 0..is.len() {
            let p = flat / ist[j] % is[j];
            at += if j == d { r } else { p } * xst[j];
            if let Some(s) = &sst {
                src_at += p * s[j];
            }
        }
        match src {
            Some(s) => out[at] += s.data[src_at],
            None => out.push(x.data[at]),
        }
    }
    Ok(out)
}
