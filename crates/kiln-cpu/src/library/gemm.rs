//! GEMM steps on the CPU.
use kiln_sched::{Gemm, GemmAt, LibraryCall};

use crate::error::RunError;

pub(super) fn run(g: &Gemm, _at: &GemmAt, _ptrs: &[*mut u8]) -> Result<(), RunError> {
    Err(super::unsupported(
        &LibraryCall::Gemm(Box::new(g.clone())),
        "GEMM is not implemented on the CPU yet",
    ))
}
