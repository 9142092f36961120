//! What can stop a gradient: each names the node or input concerned and says what to change.
use kiln_ir::{DType, IrError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GradError {
    #[error("`{name}` is not an output of graph `{graph}` (outputs: {outputs})")]
    UnknownOutput {
        name: String,
        graph: String,
        outputs: String,
    },
    #[error(
        "`{name}` is not an input or parameter of graph `{graph}`; gradients are taken with respect to inputs and parameters"
    )]
    UnknownInput { name: String, graph: String },
    #[error(
        "cannot differentiate with respect to `{name}`: it is {dtype}, and only floating-point inputs have gradients"
    )]
    NotFloat { name: String, dtype: DType },
    #[error(
        "cannot differentiate output `{name}`: it is {dtype}; differentiate a floating-point output"
    )]
    OutputNotFloat { name: String, dtype: DType },
    #[error("node `{node}` ({op}) is not differentiable: {reason}")]
    NotDifferentiable {
        node: String,
        op: String,
        reason: String,
    },
    #[error(
        "the training step needs the name `{name}` for {what}, but graph `{graph}` already uses it; rename that node"
    )]
    NameTaken {
        name: String,
        what: String,
        graph: String,
    },
    #[error("cotangent of `{output}`: {msg}")]
    Cotangent { output: String, msg: String },
    #[error("while building the backward of node `{node}`: {source}")]
    Build { node: String, source: Box<IrError> },
    #[error(transparent)]
    Ir(Box<IrError>),
}

impl From<IrError> for GradError {
    fn from(e: IrError) -> GradError {
        GradError::Ir(Box::new(e))
    }
}
