//! The reference interpreter: obvious, not fast; the oracle for every backend. STUB.
use crate::{error::IrError, graph::Graph, tensor::Tensor};

/// Evaluates the graph on concrete inputs (in the order of `g.inputs()`), returning the outputs
/// in the order of `g.outputs()`.
pub fn interpret(_g: &Graph, _inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    unimplemented!()
}
