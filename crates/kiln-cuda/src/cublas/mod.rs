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
