//! Reference implementations of the gradient family. Shapes come from inference (`shape` is
//! the result's, which is the `like` operand's); the loops are plain index arithmetic.
use super::movement::{each_index, offset, slice_start, wrap};
use super::{Value, broadcast_offsets, numel};
use crate::dtype::DType;

/// `sum_to(x, like)`: every element of `x` added into the element of `shape` it broadcasts
/// from, in C order of `x` (f64 accumulation, one rounding at the end).
pub(crate) fn sum_to(x: &Value, dtype: DType, shape: &[usize]) -> Value {
    let mut data = vec![0.0; numel(shape)];
    // The broadcast map from `shape` to x's shape names, for each x element, its target.
    for (i, target) in broadcast_offsets(shape, &x.shape).into_iter().enumerate() {
        data[target] += x.data[i];
    }
    Value::rounded(dtype, shape.to_vec(), data)
}

/// `slice_scatter(input, src, dim, bounds)`: `input` with `src` written into the slice.
pub(crate) fn slice_scatter(
    input: &Value,
    src: &Value,
    dim: i64,
    bounds: &crate::op::SliceBounds,
    dtype: DType,
) -> Value {
    let mut data = input.data.clone();
    let d = wrap(dim, input.shape.len());
    let (start, step) = slice_start(input.shape[d] as i64, bounds);
    each_index(&src.shape, |s| {
        let mut i = s.to_vec();
        i[d] = (start + s[d] as i64 * step) as usize;
        data[offset(&input.shape, &i)] = src.data[offset(&src.shape, s)];
    });
    Value::rounded(dtype, input.shape.clone(), data)
}

/// `cat_part(x, parts, dim, index)`: block `index` of `x` along `dim`.
pub(crate) fn cat_part(x: &Value, parts: &[&Value], dim: i64, index: usize, dtype: DType) -> Value {
    let d = wrap(dim, x.shape.len());
    let start: usize = parts[..index].iter().map(|p| p.shape[d]).sum();
    let mut shape = x.shape.clone();
    shape[d] = parts[index].shape[d];
    let mut data = Vec::with_capacity(numel(&shape));
    each_index(&shape, |o| {
        let mut i = o.to_vec();
        i[d] += start;
        data.push(x.data[offset(&x.shape, &i)]);
    });
    Value::rounded(dtype, shape, data)
}
