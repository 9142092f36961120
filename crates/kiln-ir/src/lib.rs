//! kiln's graph IR: dtypes, the op set (PyTorch's names and semantics), the graph, its `.kiln`
//! text format, shape inference inside a [`kiln_shape::ShapeEnv`], a canonical form for hashing,
//! and the reference interpreter every backend is tested against.

pub mod build;
pub mod canon;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod infer;
pub mod input_error;
pub mod interp;
pub mod op;
pub mod parse;
pub mod print;
pub mod storage;
pub mod tensor;

pub use dtype::DType;
pub use error::IrError;
pub use graph::{Graph, InputDecl, InputKind, Node, NodeId, NodeKind};
pub use infer::{
    TensorType, ValueInfo, infer_shapes, op_info, validate, value_info, value_info_in,
};
pub use input_error::{InputError, Role};
pub use interp::interpret;
pub use op::{
    BinaryOp, ConvParams, ConvTransposeParams, Op, Operand, PadMode, Pool2d, ReduceOp, SliceBounds,
    Split, UnaryOp,
};
pub use parse::parse;
pub use print::print;
pub use storage::{BufferPool, Storage, StorageError};
pub use tensor::{AllocError, Tensor, byte_size, round_to, trunc_i64};
