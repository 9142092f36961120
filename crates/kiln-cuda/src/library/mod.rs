//! The CUDA side of a program's library steps that needs no GPU: launch plans of convolutions
//! ([`conv`]) and the helper kernels they use (im2col, depthwise, k = 0 GEMMs), CUDA C in
//! `kernels/kiln_library.cuh` compiled by NVRTC into the program's cubin ([`helpers`]).
//! GEMM plans are in [`crate::cublas::plan`]; the runtime is `runtime/library.rs`.
pub mod conv;
pub mod helpers;

pub use conv::{ConvAlgo, ConvPlan, Geometry, plan_conv};
pub(crate) use helpers::refuse_unsupported;
pub use helpers::{helper_dtypes, helper_name};

/// The CUDA backend has no pool backward yet (the CPU runs it as a scatter loop): a program
/// with one is refused at compile time with this error, naming the op and the call.
pub fn unsupported_pool_grad(p: &kiln_sched::PoolBackward) -> crate::error::CudaError {
    crate::error::CudaError::Library {
        call: p.name.clone(),
        msg: format!(
            "{} is not supported by the CUDA backend (run it on the CPU backend)",
            p.kind.op_name()
        ),
    }
}

/// Fails on the first library call the CUDA backend cannot run.
pub fn check_supported(program: &kiln_sched::Program) -> Result<(), crate::error::CudaError> {
    for call in program.library_calls() {
        if let kiln_sched::LibraryCall::PoolBackward(p) = call {
            return Err(unsupported_pool_grad(p));
        }
    }
    Ok(())
}
