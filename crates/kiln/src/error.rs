//! The errors a user of kiln sees.
use kiln_ir::IrError;
use kiln_sched::SchedError;

#[derive(Debug, thiserror::Error)]
pub enum KilnError {
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Sched(#[from] SchedError),
    #[error("input `{input}`: expected dtype {expected}, found {found}")]
    InputDtype {
        input: String,
        expected: String,
        found: String,
    },
    #[error("expected {expected} inputs, found {found}")]
    InputCount { expected: usize, found: usize },
    #[error("CPU backend: {0}")]
    Cpu(String),
    #[error("CUDA backend: {0}")]
    Cuda(String),
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
