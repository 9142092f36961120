//! Library steps of a program (cuBLAS GEMM, convolution) on the device. The sizes come from
//! [`kiln_sched::LibraryCall::launch`], which proved them inside the buffers.
use std::sync::Arc;

use cudarc::driver::CudaStream;
use kiln_sched::LibraryCall;

use super::Slot;
use super::validate::Bound;
use crate::error::CudaError;

pub(super) fn run(
    _stream: &Arc<CudaStream>,
    call: &LibraryCall,
    _slots: &[Slot],
    _sizes: &[usize],
    _bound: &Bound,
) -> Result<(), CudaError> {
    Err(CudaError::Library {
        call: call.name().to_string(),
        msg: "the CUDA backend has no library kernels yet".to_string(),
    })
}
