//! ONNX import: an ONNX `ModelProto` (prost, generated code in `proto/`) to a kiln [`Graph`]
//! whose initializers are bound parameters, never constants hashed by value.
//!
//! ```no_run
//! let model = kiln_onnx::load("model.onnx").unwrap();
//! println!("{} inputs, {} parameters", model.graph.inputs().len(), model.params.len());
//! ```
//! Shapes computed at run time by exported models (`Shape -> Gather -> Concat -> Reshape`) are
//! folded at import into kiln's symbolic dims (`import/shape_values.rs`); dynamic dims
//! (`dim_param`, or unnamed) become kiln symbols, so one compiled entry serves every batch
//! size its guards allow. Everything the importer refuses is a typed [`OnnxError`].

mod error;
mod import;
mod load;
pub mod proto;
mod tensor;

pub use error::OnnxError;
pub use import::{Model, import_model};
pub use load::{MAX_MODEL_BYTES, decode_model, load, load_tensor};
pub use tensor::tensor_from_proto;

pub use kiln_ir::Graph;
