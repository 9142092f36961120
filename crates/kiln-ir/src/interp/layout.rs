//! Layout ops. Every result is contiguous (C order), so a reshape only relabels the shape and
//! the others gather through permuted or broadcast strides.
use super::{Value, broadcast_offsets, gather_offsets, strides};
use crate::infer::check::normalize_dim;

fn gather(x: &Value, shape: Vec<usize>, offsets: &[usize]) -> Value {
    Value {
        dtype: x.dtype,
        shape,
        data: offsets.iter().map(|&i| x.data[i]).collect(),
    }
}

/// `reshape`, `squeeze` and `unsqueeze`: same elements in the same order, a new shape.
pub(crate) fn reshape(x: &Value, shape: &[usize]) -> Value {
    Value {
        dtype: x.dtype,
        shape: shape.to_vec(),
        data: x.data.clone(),
    }
}

/// `permute(x, dims)`: result dim `i` is input dim `dims[i]`.
pub(crate) fn permute(x: &Value, dims: &[i64]) -> Result<Value, String> {
    let rank = x.shape.len();
    let perm = dims
        .iter()
        .map(|&d| normalize_dim(d, rank))
        .collect::<Result<Vec<usize>, String>>()?;
    if rank == 0 {
        return Ok(x.clone());
    }
    let in_strides = strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let s: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    Ok(gather(x, shape.clone(), &gather_offsets(&shape, &s)))
}

pub(crate) fn transpose(x: &Value, dim0: i64, dim1: i64) -> Result<Value, String> {
    let rank = x.shape.len();
    if rank == 0 {
        return Ok(x.clone());
    }
    let (i, j) = (normalize_dim(dim0, rank)?, normalize_dim(dim1, rank)?);
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(i, j);
    permute(x, &perm)
}

/// `expand`: broadcasts `x` to `shape`.
pub(crate) fn expand(x: &Value, shape: &[usize]) -> Value {
    gather(x, shape.to_vec(), &broadcast_offsets(&x.shape, shape))
}
