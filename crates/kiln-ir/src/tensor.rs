//! Host tensors: a dtype, a shape and contiguous (C-order) little-endian bytes.
use half::{bf16, f16};

use crate::dtype::DType;
use crate::storage::{BufferPool, Storage, StorageError};

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// `numel * dtype.size()` bytes, C order (64-byte aligned when kiln allocated them).
    pub data: Storage,
}

/// Why a tensor could not be allocated: its size does not fit in memory, or the memory is
/// not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("a {dtype} tensor of shape {shape:?} has more than usize::MAX bytes")]
    Overflow { dtype: DType, shape: Vec<usize> },
    #[error("a {dtype} tensor of shape {shape:?} needs {bytes} bytes: {reason}")]
    Unavailable {
        dtype: DType,
        shape: Vec<usize>,
        bytes: usize,
        reason: String,
    },
}

/// `numel * dtype.size()` of `shape`, checked.
pub fn byte_size(dtype: DType, shape: &[usize]) -> Result<usize, AllocError> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| AllocError::Overflow {
            dtype,
            shape: shape.to_vec(),
        })
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
        DType::I64 => trunc_i64(v),
    }
}

/// `v` converted to int64 as torch's `to(torch.int64)` does on x86: truncation toward zero,
/// and NaN, infinities and values outside the int64 range become `i64::MIN` (what
/// `cvttsd2si` returns for them). The result is an f64 holding that integer.
pub fn trunc_i64(v: f64) -> f64 {
    // 2^63 is exact in f64; `-2^63 <= v < 2^63` is false for NaN.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&v) {
        v.trunc()
    } else {
        -LIMIT
    }
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// A zero-filled tensor. Panics if it cannot be allocated (as `vec!` does); sizes that
    /// come from a user go through [`Tensor::try_zeros`].
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        Tensor::try_zeros(dtype, shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A zero-filled tensor, or an error naming its shape and the bytes it needs.
    pub fn try_zeros(dtype: DType, shape: &[usize]) -> Result<Tensor, AllocError> {
        let bytes = byte_size(dtype, shape)?;
        let data = Storage::try_zeroed(bytes).map_err(|e| unavailable(dtype, shape, e))?;
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data,
        })
    }

    /// A tensor whose bytes are unspecified (zeros or a recycled block's old content), taken
    /// from `pool`: for outputs a kernel writes completely before anything reads them.
    pub fn try_for_overwrite(
        dtype: DType,
        shape: &[usize],
        pool: &BufferPool,
    ) -> Result<Tensor, AllocError> {
        let bytes = byte_size(dtype, shape)?;
        let data = pool
            .alloc(bytes)
            .map_err(|e| unavailable(dtype, shape, e))?;
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data,
        })
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
                // `as` saturates; trunc_i64 has already mapped NaN and the out-of-range values.
                DType::I64 => data.extend_from_slice(&(trunc_i64(v) as i64).to_le_bytes()),
            }
        }
        Tensor {
            dtype,
            shape: shape.to_vec(),
            data: data.into(),
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
                DType::I64 => i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64,
            })
            .collect()
    }

    /// Every element of an i64 tensor, exactly (`None` for other dtypes).
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        (self.dtype == DType::I64).then(|| {
            self.data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        })
    }

    /// An i64 tensor from exact integers.
    pub fn from_i64(shape: &[usize], values: &[i64]) -> Tensor {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "value count must match the shape"
        );
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: DType::I64,
            shape: shape.to_vec(),
            data: data.into(),
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.to_f64().into_iter().map(|v| v as f32).collect()
    }
}

fn unavailable(dtype: DType, shape: &[usize], e: StorageError) -> AllocError {
    AllocError::Unavailable {
        dtype,
        shape: shape.to_vec(),
        bytes: e.bytes,
        reason: e.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_size_is_an_overflow_error() {
        // 4 * 1e11 * 1e11 wraps a u64; the unchecked product asked for 7458848197692096512 bytes.
        let shape = [100_000_000_000, 100_000_000_000];
        let err = Tensor::try_zeros(DType::F32, &shape).unwrap_err();
        assert_eq!(
            err,
            AllocError::Overflow {
                dtype: DType::F32,
                shape: shape.to_vec()
            }
        );
        let pool = BufferPool::new(1 << 20);
        assert!(Tensor::try_for_overwrite(DType::F32, &shape, &pool).is_err());
        assert_eq!(
            byte_size(DType::F32, &[0, 100_000_000_000, 100_000_000_000]),
            Ok(0)
        );
    }

    #[test]
    fn an_unbackable_size_is_an_error_naming_the_bytes() {
        let err = Tensor::try_zeros(DType::F32, &[1_000_000, 1_000_000]).unwrap_err();
        let AllocError::Unavailable { bytes, shape, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (*bytes, shape.as_slice()),
            (4_000_000_000_000, &[1_000_000, 1_000_000][..])
        );
        assert!(err.to_string().contains("4000000000000 bytes"), "{err}");
    }
}
