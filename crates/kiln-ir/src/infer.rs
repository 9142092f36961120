//! Validation (dtypes, ranks, arguments) and symbolic shape inference. STUB.
use kiln_shape::{Expr, ShapeEnv};

use crate::{dtype::DType, error::IrError, graph::Graph};

/// A value's type after specialisation: dtype and symbolic shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<Expr>,
}

/// Checks every node without sizes: arity, argument values, dtypes, ranks, dims in range,
/// pooling parameters; there must be at least one output. Errors name the node.
pub fn validate(_g: &Graph) -> Result<(), IrError> {
    unimplemented!()
}

/// Infers every node's type inside `env`, from the specialised input shapes (one per graph
/// input, as `kiln_shape::specialize_inputs` returns them). Decisions that depend on sizes
/// (broadcasting two symbolic dims, pooling windows) go through `env.decide`/`env.specialize`
/// so they become guards. Returns one type per node, indexed by `NodeId::index()`.
pub fn infer_shapes(
    _g: &Graph,
    _env: &mut ShapeEnv,
    _inputs: &[Vec<Expr>],
) -> Result<Vec<TensorType>, IrError> {
    unimplemented!()
}
