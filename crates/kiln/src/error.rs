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
    #[error("the {backend} backend is not available: {reason}")]
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
}
