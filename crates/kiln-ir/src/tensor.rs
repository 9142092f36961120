//! Host tensors: a dtype, a shape and contiguous (C-order) little-endian bytes.
use half::{bf16, f16};

use crate::dtype::DType;

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// `numel * dtype.size()` bytes, C order.
    pub data: Vec<u8>,
}

/// Rounds `v` to the nearest value representable in `dtype` (round to nearest even), as
/// PyTorch does when it writes an op's result. Bool maps nonzero to 1.
pub fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::Bool => (v != 0.0) as u8 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::BF16 => bf16::from_f64(v).to_f64(),
        DType::F32 => v as f32 as f64,
        DType::F64 => v,
    }
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor {
            dtype,
            shape: shape.to_vec(),
            data: vec![0; n * dtype.size()],
        }
    }

    /// Builds a tensor from f64 values, rounding each to `dtype`.
    pub fn from_f64(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "value count must match the shape"
        );
        let mut data = Vec::with_capacity(values.len() * dtype.size());
        for &v in values {
            match dtype {
                DType::Bool => data.push((v != 0.0) as u8),
                DType::F16 => data.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
                DType::BF16 => data.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
                DType::F32 => data.extend_from_slice(&(v as f32).to_le_bytes()),
                DType::F64 => data.extend_from_slice(&v.to_le_bytes()),
            }
        }
        Tensor {
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn from_f32(shape: &[usize], values: &[f32]) -> Tensor {
        let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
        Tensor::from_f64(DType::F32, shape, &v)
    }

    /// Every element widened to f64.
    pub fn to_f64(&self) -> Vec<f64> {
        let s = self.dtype.size();
        self.data
            .chunks_exact(s)
            .map(|c| match self.dtype {
                DType::Bool => (c[0] != 0) as u8 as f64,
                DType::F16 => f16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::BF16 => bf16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::F64 => f64::from_le_bytes(c.try_into().expect("8 bytes")),
            })
            .collect()
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.to_f64().into_iter().map(|v| v as f32).collect()
    }
}
