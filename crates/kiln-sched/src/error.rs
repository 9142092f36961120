//! Errors of scheduling.
use kiln_ir::IrError;
use kiln_shape::ShapeError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchedError {
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error("kernel `{node}`: {source}")]
    Shape { node: String, source: ShapeError },
    #[error("node `{node}`: {msg}")]
    Unsupported { node: String, msg: String },
    /// The scheduler produced a malformed program (a kiln bug, reported before any codegen).
    #[error("the scheduled program is malformed: {0}")]
    Verify(#[from] crate::VerifyError),
}
