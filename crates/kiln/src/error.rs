//! The errors a user of kiln sees. Each layer's typed error is kept as the source, so a
//! caller can match on it (a Python binding can raise the right exception type); a caller's
//! tensor that does not fit is [`KilnError::Input`] whichever layer noticed it.
use kiln_cpu::{CpuError, RunError};
use kiln_ir::{InputError, IrError};
use kiln_sched::SchedError;

#[derive(Debug, thiserror::Error)]
pub enum KilnError {
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Sched(#[from] SchedError),
    /// A gradient or training step could not be built (an op without a backward rule, an
    /// integer input, an unknown name).
    #[error(transparent)]
    Grad(#[from] kiln_grad::GradError),
    /// A data input, parameter or caller-provided output does not fit what the graph (or its
    /// compiled program) declares: names the tensor, the dim, expected and found.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Compiling or loading CPU code failed.
    #[error("CPU backend: {0}")]
    Cpu(#[from] CpuError),
    /// A compiled CPU program refused a call for a reason other than its inputs (a size that
    /// cannot be evaluated, an output that cannot be allocated, a refused access range).
    #[error("CPU backend: {0}")]
    CpuRun(#[source] RunError),
    #[cfg(feature = "cuda")]
    #[error("CUDA backend: {0}")]
    Cuda(#[source] kiln_cuda::CudaError),
    /// A backend's artifact bytes could not be encoded, or a cache entry's decoded.
    #[error("{backend} backend: cannot {action} the artifact: {source}")]
    Artifact {
        backend: &'static str,
        action: &'static str,
        #[source]
        source: postcard::Error,
    },
    /// A large graph is compiled on a thread with a stack sized to it.
    #[error("cannot start the compile thread: {0}")]
    CompileThread(#[source] std::io::Error),
    #[error("cannot emit {what}: {reason}")]
    Emit { what: &'static str, reason: String },
    /// NVRTC refused the generated source: one line here, the log and numbered source in
    /// `details` (a caller decides where they go).
    #[error("NVRTC rejected `{program}` for {arch}: {status}")]
    NvrtcRejected {
        program: String,
        arch: String,
        status: String,
        details: String,
    },
    #[error("invalid GPU architecture `{arch}`: expected `sm_<major><minor>` such as `sm_90`")]
    InvalidArch { arch: String },
    /// The backend is not in this build, or its driver or device is missing.
    #[error("the {backend} backend is not available: {reason}")]
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
}

impl From<RunError> for KilnError {
    /// An input error is reported as [`KilnError::Input`], like the driver's own.
    fn from(e: RunError) -> KilnError {
        match e {
            RunError::Input(e) => KilnError::Input(e),
            other => KilnError::CpuRun(other),
        }
    }
}

#[cfg(feature = "cuda")]
impl From<kiln_cuda::CudaError> for KilnError {
    /// An input error is reported as [`KilnError::Input`], like the driver's own.
    fn from(e: kiln_cuda::CudaError) -> KilnError {
        match e {
            kiln_cuda::CudaError::Input(e) => KilnError::Input(e),
            other => KilnError::Cuda(other),
        }
    }
}
