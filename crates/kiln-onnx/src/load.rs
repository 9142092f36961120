//! Reading an ONNX file: size limits, protobuf decoding, and the opset check.
use std::path::Path;

use prost::Message;

use crate::error::OnnxError;
use crate::import::{Model, import_model};
use crate::proto::{ModelProto, TensorProto};

/// The largest model file kiln reads into memory (weights above it belong in external data).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

fn read_limited(path: &Path) -> Result<Vec<u8>, OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > MAX_MODEL_BYTES {
        return Err(OnnxError::TooLarge {
            what: path.display().to_string(),
            bytes,
            limit: MAX_MODEL_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Decodes a `ModelProto` from bytes.
pub fn decode_model(bytes: &[u8], what: &str) -> Result<ModelProto, OnnxError> {
    decode_from(bytes, what)
}

/// [`decode_model`] from any buffer: from a `Bytes`, the initializers' `raw_data` share its
/// memory instead of being copied out.
fn decode_from(bytes: impl prost::bytes::Buf, what: &str) -> Result<ModelProto, OnnxError> {
    ModelProto::decode(bytes).map_err(|source| OnnxError::Decode {
        what: what.to_string(),
        source,
    })
}

/// Loads and imports an ONNX model; external data files are read relative to its directory.
pub fn load(path: impl AsRef<Path>) -> Result<Model, OnnxError> {
    let path = path.as_ref();
    // From `Bytes`, the weights are copied once, into their tensors, not twice.
    let bytes = prost::bytes::Bytes::from(read_limited(path)?);
    let proto = decode_from(bytes, &path.display().to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    import_model(&proto, dir)
}

/// Reads a serialized `TensorProto` (the ONNX test suites' `input_0.pb`, `output_0.pb`).
pub fn load_tensor(path: impl AsRef<Path>) -> Result<kiln_ir::Tensor, OnnxError> {
    let path = path.as_ref();
    let bytes = read_limited(path)?;
    let t = TensorProto::decode(bytes.as_slice()).map_err(|source| OnnxError::Decode {
        what: path.display().to_string(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::tensor::tensor_from_proto(&t, dir)
}
