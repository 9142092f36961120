//! Errors of the CUDA backend: code generation, NVRTC, the driver, and input validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CudaError {
    /// The program's kernels would index outside their buffers at these sizes: a program
    /// that does not fit its own guards (e.g. a damaged cache entry). Nothing ran.
    #[error("the program refuses these sizes: {0}")]
    Access(#[from] kiln_sched::AccessError),
    /// The driver library (libcuda) could not be loaded or initialised.
    #[error("CUDA is unavailable: {reason}")]
    CudaUnavailable { reason: String },
    #[error("no CUDA device is present (the driver reports {count} devices)")]
    NoDevice { count: i32 },
    #[error(
        "libnvrtc was not found: `pip install nvidia-cuda-nvrtc` into the active Python \
         environment, or set KILN_NVRTC=/path/to/libnvrtc.so.N (`kiln doctor` lists where kiln \
         looked)"
    )]
    NvrtcUnavailable,
    /// libcublas could not be loaded: a program with library steps cannot run here.
    #[error(
        "libcublas was not found: `pip install nvidia-cublas` (CUDA 13; `nvidia-cublas-cu12` \
         for CUDA 12) into the active Python environment, or set \
         KILN_CUBLAS=/path/to/libcublas.so.N (`kiln_cuda::cublas_library()` lists where kiln \
         looked)"
    )]
    CublasUnavailable,
    /// A cuBLAS call returned an error status.
    #[error("cuBLAS call `{call}` failed: {status}")]
    Cublas { call: String, status: String },
    /// A library step (cuBLAS GEMM, convolution) this build or machine cannot run.
    #[error("library call `{call}`: {msg}")]
    Library { call: String, msg: String },
    #[error("kernel `{kernel}`: {msg}")]
    Codegen { kernel: String, msg: String },
    #[error("invalid CUDA architecture `{arch}`: expected `sm_<major><minor>` such as `sm_90`")]
    BadArch { arch: String },
    #[error("NVRTC failed to compile `{program}` for {arch}: {status}\n{log}\n{excerpt}")]
    Compile {
        program: String,
        arch: String,
        status: String,
        /// NVRTC's log.
        log: String,
        /// The generated source around the first line the log names, with line numbers.
        excerpt: String,
    },
    #[error("NVRTC call `{call}` failed: {status}")]
    Nvrtc { call: String, status: String },
    #[error("CUDA driver call failed while {action}: {status}")]
    Driver { action: String, status: String },
    #[error(
        "artifact was compiled for {artifact_arch} but the device is {device_arch}; recompile for the device"
    )]
    ArchMismatch {
        artifact_arch: String,
        device_arch: String,
    },
    #[error("artifact's program is malformed: {0}")]
    BadProgram(#[from] kiln_sched::VerifyError),
    /// A tensor that does not fit the program's specs (the shared type: input, dim,
    /// expected, found).
    #[error(transparent)]
    Input(#[from] kiln_ir::InputError),
    #[error("cannot evaluate `{expr}` for {what}: {reason}")]
    Eval {
        what: String,
        expr: String,
        reason: String,
    },
    #[error("{what} is {value}, which does not fit the launch ({limit})")]
    TooLarge {
        what: String,
        value: i64,
        limit: String,
    },
    #[error("cannot allocate the host copy of a result: {0}")]
    HostAlloc(#[from] kiln_ir::AllocError),
}

impl CudaError {
    pub(crate) fn driver(action: &str, err: impl std::fmt::Debug) -> CudaError {
        CudaError::Driver {
            action: action.to_string(),
            status: format!("{err:?}"),
        }
    }
}
