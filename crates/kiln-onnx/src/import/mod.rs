//! `ModelProto` to a kiln graph: graph inputs become kiln inputs (dims: `dim_value`, a
//! `dim_param` symbol, or a fresh symbol for an unnamed dynamic dim), float initializers become
//! bound parameters (one-element ones stay constants), integer initializers become import-time
//! values (shapes, axes), and nodes map through the op table (`ops.rs`). Every node that
//! cannot be imported is collected and reported at once.
use std::collections::HashMap;
use std::path::Path;

use kiln_ir::{DType, Graph, NodeId, Tensor};
use kiln_shape::Dim;

use crate::error::OnnxError;
use crate::proto::{ModelProto, NodeProto, TensorProto, ValueInfoProto};
use crate::tensor::{int_values, kiln_dtype, tensor_from_proto};

mod attrs;
mod gather;
mod layout;
mod math;
mod models;
mod ops;
mod shape_values;

pub(crate) use attrs::Attrs;
pub(crate) use shape_values::Ints;

/// The newest opset of the default domain the importer knows (ONNX 1.23).
pub const MAX_OPSET: i64 = 25;
/// The oldest: opset 6 (ONNX's pytorch-converted test models); the legacy `broadcast`/`axis`
/// attributes of its binary ops are refused as unsupported where they change the result.
pub const MIN_OPSET: i64 = 6;

/// An imported model: the graph and the values of its parameters, to bind when the compiled
/// function is instantiated.
#[derive(Debug)]
pub struct Model {
    pub graph: Graph,
    pub params: Vec<(String, Tensor)>,
    pub opset: i64,
    pub producer: String,
}

/// What an ONNX value name refers to during import.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A node of the kiln graph.
    Node(NodeId),
    /// A 0-d or 1-d integer tensor known at import (a shape, axes, pads), each element a
    /// symbolic size (`shape_values.rs`).
    Ints(Ints),
}

pub(crate) struct Importer<'a> {
    pub g: Graph,
    pub values: HashMap<String, Value>,
    pub params: Vec<(String, Tensor)>,
    pub opset: i64,
    pub dir: &'a Path,
    fresh_symbols: usize,
    /// Symbolic shapes of the graph's nodes so far, for `Shape` (`shape_values.rs`).
    shapes: Vec<Vec<kiln_shape::Expr>>,
}

fn opset_of(m: &ModelProto) -> Result<i64, OnnxError> {
    let version = m
        .opset_import
        .iter()
        .find(|o| {
            o.domain.as_deref().unwrap_or("").is_empty() || o.domain.as_deref() == Some("ai.onnx")
        })
        .and_then(|o| o.version)
        .unwrap_or(1);
    if !(MIN_OPSET..=MAX_OPSET).contains(&version) {
        return Err(OnnxError::Opset {
            version,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    Ok(version)
}

/// Imports a decoded model; `dir` is where its external data files are.
pub fn import_model(m: &ModelProto, dir: &Path) -> Result<Model, OnnxError> {
    let graph = m.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let opset = opset_of(m)?;
    let name = sanitize(graph.name.as_deref().unwrap_or("onnx_model"));
    let mut imp = Importer {
        g: Graph::new(&name),
        values: HashMap::new(),
        params: Vec::new(),
        opset,
        dir,
        fresh_symbols: 0,
        shapes: Vec::new(),
    };
    for init in &graph.initializer {
        imp.initializer(init)?;
    }
    for input in &graph.input {
        let n = input.name.clone().unwrap_or_default();
        if !imp.values.contains_key(&n) {
            imp.input(input)?;
        }
    }
    let mut unsupported = Vec::new();
    // Outputs of unsupported nodes, and of nodes reading them: skipped, so that the error
    // lists every unsupported node of the model, not the first one's consequences.
    let mut skipped: std::collections::HashSet<&str> = Default::default();
    for node in &graph.node {
        if node.input.iter().any(|i| skipped.contains(i.as_str())) {
            skipped.extend(node.output.iter().map(String::as_str));
            continue;
        }
        match ops::import_node(&mut imp, node) {
            Ok(()) => {}
            Err(ops::NodeError::Unsupported) => {
                unsupported.push((node_name(node), op_type(node)));
                skipped.extend(node.output.iter().map(String::as_str));
            }
            Err(ops::NodeError::Failed(e)) => return Err(e),
        }
    }
    if !unsupported.is_empty() {
        return Err(OnnxError::Unsupported { nodes: unsupported });
    }
    let outputs = graph
        .output
        .iter()
        .map(|o| imp.node_of(o.name.as_deref().unwrap_or_default(), "graph output"))
        .collect::<Result<Vec<_>, _>>()?;
    imp.g.set_outputs(outputs)?;
    kiln_ir::validate(&imp.g)?;
    Ok(Model {
        graph: imp.g,
        params: imp.params,
        opset,
        producer: m.producer_name.clone().unwrap_or_default(),
    })
}

pub(crate) fn node_name(n: &NodeProto) -> String {
    n.name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| n.output.first().cloned())
        .unwrap_or_default()
}

pub(crate) fn op_type(n: &NodeProto) -> String {
    n.op_type.clone().unwrap_or_default()
}

/// A kiln value name for an ONNX name (`conv1.weight`, `input:0` are not kiln identifiers).
pub(crate) fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, 'v');
    }
    if matches!(s.as_str(), "true" | "false" | "None" | "inf" | "nan") {
        s.insert(0, 'v');
    }
    s
}

impl Importer<'_> {
    /// A fresh kiln name for an ONNX value.
    pub fn name_for(&self, onnx_name: &str) -> String {
        self.g.fresh_name(&sanitize(onnx_name))
    }

    fn initializer(&mut self, t: &TensorProto) -> Result<(), OnnxError> {
        let onnx_name = t.name.clone().unwrap_or_default();
        let code = t.data_type.unwrap_or(0);
        // Integer initializers are shapes, axes and indices folded at import.
        if code == crate::tensor::INT64
            || code == crate::tensor::INT32
            || kiln_dtype(code).is_none()
        {
            let ints = int_values(t, self.dir)?;
            self.values
                .insert(onnx_name, Value::Ints(Ints::fixed(ints, t.dims.is_empty())));
            return Ok(());
        }
        let tensor = tensor_from_proto(t, self.dir)?;
        let name = self.name_for(&onnx_name);
        let id = if tensor.numel() <= 1 {
            self.g.add_constant(&name, tensor)?
        } else {
            let id = self.g.add_param(&name, tensor.dtype, &tensor.shape)?;
            self.params.push((name, tensor));
            id
        };
        self.values.insert(onnx_name, Value::Node(id));
        Ok(())
    }

    fn input(&mut self, v: &ValueInfoProto) -> Result<(), OnnxError> {
        let onnx_name = v.name.clone().unwrap_or_default();
        let err = |msg: String| OnnxError::Input {
            input: onnx_name.clone(),
            msg,
        };
        let tensor = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(crate::proto::type_proto::Value::TensorType(t)) => t,
            _ => return Err(err("is not a tensor".into())),
        };
        let code = tensor.elem_type.unwrap_or(0);
        let dtype: DType =
            kiln_dtype(code).ok_or_else(|| err(format!("element type {code} is not supported")))?;
        let shape = tensor
            .shape
            .as_ref()
            .ok_or_else(|| err("has no shape (rank unknown)".into()))?;
        let mut dims = Vec::with_capacity(shape.dim.len());
        for d in &shape.dim {
            use crate::proto::tensor_shape_proto::dimension::Value as D;
            dims.push(match &d.value {
                Some(D::DimValue(v)) if *v >= 0 => Dim::Fixed(*v),
                Some(D::DimParam(p)) if !p.is_empty() => Dim::Sym(sanitize(p)),
                _ => {
                    self.fresh_symbols += 1;
                    Dim::Sym(format!("d{}", self.fresh_symbols))
                }
            });
        }
        let name = self.name_for(&onnx_name);
        let id = self.g.add_input(&name, dtype, dims)?;
        self.values.insert(onnx_name, Value::Node(id));
        Ok(())
    }

    /// The kiln node an ONNX value name refers to.
    pub fn node_of(&self, name: &str, what: &str) -> Result<NodeId, OnnxError> {
        match self.values.get(name) {
            Some(Value::Node(id)) => Ok(*id),
            Some(Value::Ints(_)) => Err(OnnxError::Input {
                input: name.to_string(),
                msg: format!(
                    "{what}: an integer tensor kiln folds at import, not a computed value"
                ),
            }),
            None => Err(OnnxError::Input {
                input: name.to_string(),
                msg: format!("{what}: not defined (a missing initializer or input?)"),
            }),
        }
    }
}
