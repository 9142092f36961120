//! kiln's CUDA backend.
//!
//! The kernel IR of [`kiln_sched`] becomes one CUDA C translation unit ([`codegen::generate`]),
//! NVRTC compiles it to PTX and to a cubin for one architecture ([`nvrtc`]; no GPU needed), the
//! cubin travels in a serde [`CudaArtifact`] (what the cache stores), and [`CudaProgram`] loads
//! that cubin through the driver API and launches it ([`runtime`]; no NVRTC needed).
//!
//! Every library is loaded dynamically through cudarc, which panics when a library is missing:
//! this crate checks for each library first and returns [`CudaError`] instead, on any machine.
//! See `doc/CUDA.md` for the code-generation rules and how the GPU checks are run.

pub mod artifact;
pub mod codegen;
pub mod cublas;
mod error;
pub mod library;
pub mod nvrtc;
pub mod runtime;

pub use artifact::{CudaArtifact, compile, target_id};
pub use codegen::{CudaSource, generate};
pub use cublas::{cublas_available, cublas_library, cublas_version};
pub use error::CudaError;
pub use nvrtc::{Arch, nvrtc_available, nvrtc_library, nvrtc_version};
pub use runtime::{CudaDevice, CudaProgram, DeviceTensor, KernelVariant, VariantPolicy};
