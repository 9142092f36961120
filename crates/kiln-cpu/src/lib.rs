//! kiln's CPU backend: kernel IR to machine code through Cranelift, a launcher, and
//! relocatable artifacts that load without running Cranelift again.
//!
//! [`compile`] turns a [`kiln_sched::Program`] into a [`CompiledProgram`] (ready to run) and a
//! [`CpuArtifact`] (serde: the machine code and relocations, for the cache); [`load`] installs
//! an artifact's code into a fresh JIT module. [`emit_clif`] prints the CLIF of every kernel.
//! See `doc/CODEGEN.md` for how kernels are generated.

mod artifact;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod code_pool;
mod codegen;
mod error;
mod jit;
mod library;
pub mod math;
mod run;
mod temps;
mod validate;

pub use artifact::{CpuArtifact, KernelCode, RelocKind, RelocRecord, RelocTarget, compile, load};
pub use codegen::{CodegenError, MemAccess};
pub use error::{CpuError, RunError};
pub use jit::{HostIsa, emit_clif, target_id};
pub use library::sgemm;
pub use run::CompiledProgram;
