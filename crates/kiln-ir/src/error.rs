//! Errors of graph construction, parsing, validation and interpretation.
use kiln_shape::{BindError, ShapeError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrError {
    #[error("{line}:{col}: {msg}")]
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("the name `{name}` is defined twice")]
    DuplicateName { name: String },
    #[error("node `{node}` uses a value that is not defined before it")]
    UnknownOperand { node: String },
    #[error("node `{node}`: unknown op `{op}`")]
    UnknownOp { node: String, op: String },
    #[error("node `{node}` ({op}): {msg}")]
    Invalid {
        node: String,
        op: String,
        msg: String,
    },
    #[error("node `{node}` ({op}): {source}")]
    Shape {
        node: String,
        op: String,
        source: ShapeError,
    },
    #[error(transparent)]
    Bind(#[from] BindError),
    /// A caller's tensor does not fit the graph's declaration (the interpreter's check).
    #[error(transparent)]
    Input(#[from] crate::input_error::InputError),
    #[error("the graph has no outputs")]
    NoOutputs,
}
