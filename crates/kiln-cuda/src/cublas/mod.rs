//! cuBLAS for the GEMM steps of a program (and the GEMMs of convolutions): kiln loads
//! libcublas itself ([`load`], like libnvrtc), plans each call from the proved launch sizes
//! ([`plan`], pure and unit-tested) and calls `cublasGemmStridedBatchedEx` on the program's
//! stream (`runtime`). Nothing here needs a GPU except the call itself.
pub(crate) mod load;
pub mod plan;

use kiln_ir::DType;

pub use plan::{BatchLoop, GemmPlan, Operand, Trans, plan_gemm};

/// Whether libcublas can be loaded (no GPU needed).
pub fn cublas_available() -> bool {
    load::api().is_ok()
}

/// Which libcublas was loaded (a path, and how it was found), or every candidate tried and
/// why each failed.
pub fn cublas_library() -> Result<String, Vec<(String, String)>> {
    load::api()
        .map(|api| api.source.clone())
        .map_err(|missing| missing.tried.clone())
}

/// cuBLAS's `(major, minor, patch)`, when a library loads.
pub fn cublas_version() -> Option<(i32, i32, i32)> {
    load::api().ok()?.version()
}

/// `cudaDataType_t` values kiln passes.
const CUDA_R_32F: i32 = 0;
const CUDA_R_64F: i32 = 1;
const CUDA_R_16F: i32 = 2;
const CUDA_R_16BF: i32 = 14;
/// `cublasComputeType_t`: f32 accumulation without TF32 (PyTorch's default for f32 matmul,
/// and its accumulation for f16/bf16, which run on tensor cores), and f64.
const CUBLAS_COMPUTE_32F: i32 = 68;
const CUBLAS_COMPUTE_64F: i32 = 70;
/// `CUBLAS_GEMM_DEFAULT`: cuBLAS's heuristics pick the algorithm (tensor cores for f16/bf16).
pub(crate) const CUBLAS_GEMM_DEFAULT: i32 = -1;

/// How one dtype is multiplied: the operands' data type, the compute type, and whether the
/// scalars alpha and beta are doubles (else floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmTypes {
    pub data: i32,
    pub compute: i32,
    pub f64_scalars: bool,
}

/// The cuBLAS types for `dtype`, `None` for dtypes cuBLAS does not multiply here.
pub fn gemm_types(dtype: DType) -> Option<GemmTypes> {
    let (data, compute) = match dtype {
        DType::F32 => (CUDA_R_32F, CUBLAS_COMPUTE_32F),
        DType::F64 => (CUDA_R_64F, CUBLAS_COMPUTE_64F),
        DType::F16 => (CUDA_R_16F, CUBLAS_COMPUTE_32F),
        DType::BF16 => (CUDA_R_16BF, CUBLAS_COMPUTE_32F),
        _ => return None,
    };
    Some(GemmTypes {
        data,
        compute,
        f64_scalars: dtype == DType::F64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cudarc::cublas::sys::{
        cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType_t,
    };

    /// kiln's loader passes enums as ints; they must be cuBLAS's values (cudarc's bindings are
    /// generated from cublas_api.h, and are used here only for this check: cudarc's own
    /// loader cannot find CUDA 13's libcublas.so.13).
    #[test]
    fn the_enum_values_are_cublas_own() {
        assert_eq!(CUDA_R_32F, cudaDataType_t::CUDA_R_32F as i32);
        assert_eq!(CUDA_R_64F, cudaDataType_t::CUDA_R_64F as i32);
        assert_eq!(CUDA_R_16F, cudaDataType_t::CUDA_R_16F as i32);
        assert_eq!(CUDA_R_16BF, cudaDataType_t::CUDA_R_16BF as i32);
        assert_eq!(
            CUBLAS_COMPUTE_32F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F as i32
        );
        assert_eq!(
            CUBLAS_COMPUTE_64F,
            cublasComputeType_t::CUBLAS_COMPUTE_64F as i32
        );
        assert_eq!(
            CUBLAS_GEMM_DEFAULT,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT as i32
        );
        assert_eq!(Trans::N as i32, cublasOperation_t::CUBLAS_OP_N as i32);
        assert_eq!(Trans::T as i32, cublasOperation_t::CUBLAS_OP_T as i32);
    }
}
