//! What the cache stores for the CUDA backend: the program and its cubin for one architecture.
use kiln_sched::Program;
use serde::{Deserialize, Serialize};

use crate::codegen::{CODEGEN_VERSION, generate};
use crate::cublas::cublas_version;
use crate::error::CudaError;
use crate::nvrtc::{Arch, compile_source, nvrtc_version};

/// A compiled program: loading it needs the driver and a GPU of `arch`, but no NVRTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CudaArtifact {
    /// The kiln-cuda version that generated the code.
    pub kiln_cuda_version: String,
    pub codegen_version: u32,
    /// NVRTC's `(major, minor)`.
    pub nvrtc_version: (i32, i32),
    /// The architecture the cubin was built for (`sm_90`).
    pub arch: String,
    pub program: Program,
    /// An ELF cubin for `arch`, a byte string on disk (decoded by one copy).
    #[serde(with = "serde_bytes")]
    pub cubin: Vec<u8>,
    /// The C name of each kernel, in `program.kernels` order.
    pub kernel_names: Vec<String>,
}

impl CudaArtifact {
    /// Checks what can be checked without a GPU before the cubin is loaded: the program is well
    /// formed ([`Program::verify`]) and names one C kernel per kernel. Every load from the
    /// cache runs it.
    pub fn verify(&self) -> Result<(), CudaError> {
        self.program.verify()?;
        if self.kernel_names.len() != self.program.kernels.len() {
            return Err(CudaError::Codegen {
                kernel: self.program.graph_name.clone(),
                msg: format!(
                    "artifact names {} kernels but its program has {}",
                    self.kernel_names.len(),
                    self.program.kernels.len()
                ),
            });
        }
        Ok(())
    }
}

/// Generates CUDA C for `program` and compiles it with NVRTC for `arch` (`"sm_90"`).
pub fn compile(program: &Program, arch: &str) -> Result<CudaArtifact, CudaError> {
    let arch = Arch::parse(arch)?;
    for call in program.library_calls() {
        if let kiln_sched::LibraryCall::ConvGrad(c) = call {
            return Err(conv_grad_unsupported(c));
        }
    }
    crate::library::check_supported(program)?;
    let source = generate(program)?;
    let compiled = compile_source(&source, &arch)?;
    tracing::debug!(
        target: "kiln::cuda",
        "compiled `{}` for {arch}: {} kernels, {} cubin bytes",
        program.graph_name,
        source.kernel_names.len(),
        compiled.cubin.len()
    );
    Ok(CudaArtifact {
        kiln_cuda_version: env!("CARGO_PKG_VERSION").to_string(),
        codegen_version: CODEGEN_VERSION,
        nvrtc_version: nvrtc_version()?,
        arch: arch.to_string(),
        program: program.clone(),
        cubin: compiled.cubin,
        kernel_names: source.kernel_names,
    })
}

/// The typed refusal of a convolution gradient step, which this backend does not implement
/// yet (the CPU backend does).
pub(crate) fn conv_grad_unsupported(c: &kiln_sched::ConvGrad) -> CudaError {
    let op = match c.of {
        kiln_sched::ConvGradOf::Input => "convolution_backward_input",
        kiln_sched::ConvGradOf::Weight => "convolution_backward_weight",
    };
    CudaError::Library {
        call: c.conv.name.clone(),
        msg: format!("{op} is not supported by the CUDA backend yet (the CPU backend runs it)"),
    }
}

/// The part of a cache key that names this backend's output: architecture, code generator,
/// NVRTC and cuBLAS versions. Without libnvrtc the NVRTC part reads `nvrtc-none` (nothing can
/// be compiled then anyway); without libcublas the cuBLAS part reads `cublas-none` (library
/// steps cannot run then, and their results may differ between cuBLAS versions).
pub fn target_id(arch: &str) -> String {
    let nvrtc = match nvrtc_version() {
        Ok((major, minor)) => format!("nvrtc-{major}.{minor}"),
        Err(_) => "nvrtc-none".to_string(),
    };
    let cublas = match cublas_version() {
        Some((major, minor, patch)) => format!("cublas-{major}.{minor}.{patch}"),
        None => "cublas-none".to_string(),
    };
    format!(
        "cuda-{arch}-kiln-cuda-{}-codegen-{CODEGEN_VERSION}-{nvrtc}-{cublas}",
        env!("CARGO_PKG_VERSION")
    )
}
