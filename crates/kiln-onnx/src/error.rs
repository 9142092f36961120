//! What the importer refuses, naming the file, node or tensor.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is {bytes} bytes, over kiln's limit of {limit}")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{what} is not a valid ONNX protobuf: {source}")]
    Decode {
        what: String,
        source: prost::DecodeError,
    },
    #[error("the model has no graph")]
    NoGraph,
    #[error("the model imports opset {version} of the default domain; kiln imports {min} to {max}")]
    Opset { version: i64, min: i64, max: i64 },
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    #[error("tensor `{name}`: external data `{location}` is refused: {reason}")]
    ExternalData {
        name: String,
        location: String,
        reason: String,
    },
    #[error("graph input `{input}`: {msg}")]
    Input { input: String, msg: String },
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        node: String,
        op: String,
        msg: String,
    },
    /// Every node kiln cannot import, at once.
    #[error("{} unsupported node(s): {}", .nodes.len(), summary(.nodes))]
    Unsupported { nodes: Vec<(String, String)> },
    #[error(transparent)]
    Ir(#[from] kiln_ir::IrError),
}

/// `Op (count): node, node, ...` per op type.
fn summary(nodes: &[(String, String)]) -> String {
    let mut ops: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, op) in nodes {
        match ops.iter_mut().find(|(o, _)| o == op) {
            Some((_, list)) => list.push(node),
            None => ops.push((op, vec![node])),
        }
    }
    let parts: Vec<String> = ops
        .iter()
        .map(|(op, list)| {
            let shown: Vec<&str> = list.iter().take(3).copied().collect();
            let more = if list.len() > 3 { ", ..." } else { "" };
            format!("{op} ({}: {}{more})", list.len(), shown.join(", "))
        })
        .collect();
    parts.join("; ")
}
