//! `matmul` of operands of rank >= 2: every output element is a dot product accumulated in
//! f64 and rounded once to the result's dtype (PyTorch's low-precision GEMMs accumulate in f32;
//! the comparison tolerances cover the difference).
use super::{Value, broadcast_offsets, numel};
use crate::dtype::DType;

/// `a: [batch_a..., m, k]`, `b: [batch_b..., k, n]`, `out_shape: [batch..., m, n]` where
/// `batch` is the broadcast of the two batch shapes (shape inference checked all of it).
pub(crate) fn matmul(a: &Value, b: &Value, dtype: DType, out_shape: &[usize]) -> Value {
    let (ra, rb, ro) = (a.shape.len(), b.shape.len(), out_shape.len());
    let (m, k) = (a.shape[ra - 2], a.shape[ra - 1]);
    let n = b.shape[rb - 1];
    let batch = &out_shape[..ro - 2];
    // Which matrix of each operand every output matrix reads (broadcast batch dims repeat).
    let a_mats = broadcast_offsets(&a.shape[..ra - 2], batch);
    let b_mats = broadcast_offsets(&b.shape[..rb - 2], batch);
    let mut out = Vec::with_capacity(numel(out_shape));
    for (&am, &bm) in a_mats.iter().zip(&b_mats) {
        let a_mat = &a.data[am * m * k..(am + 1) * m * k];
        let b_mat = &b.data[bm * k * n..(bm + 1) * k * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| a_mat[i * k + p] * b_mat[p * n + j]).sum();
                out.push(dot);
            }
        }
    }
    Value::rounded(dtype, out_shape.to_vec(), out)
}
