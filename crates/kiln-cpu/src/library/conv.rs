//! Convolution steps on the CPU.
use kiln_sched::{Conv, ConvAt, LibraryCall};

use crate::error::RunError;

pub(super) fn run(c: &Conv, _at: &ConvAt, _ptrs: &[*mut u8]) -> Result<(), RunError> {
    Err(super::unsupported(
        &LibraryCall::Conv(Box::new(c.clone())),
        "convolution is not implemented on the CPU yet",
    ))
}
