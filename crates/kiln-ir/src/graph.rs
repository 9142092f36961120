//! The graph: named inputs, constants, op nodes and named outputs, on petgraph.
//!
//! Nodes are added in a valid topological order (an op may only use earlier nodes), which is
//! also the order the text format prints them in. Edges run from an operand to its user and
//! carry the operand's position, so users and topological walks come from petgraph.
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::dtype::DType;
use crate::error::IrError;
use crate::infer::ValueInfo;
use crate::op::Op;
use crate::tensor::Tensor;
use kiln_shape::Dim;

/// The id of a node in its graph.
pub type NodeId = NodeIndex<u32>;

/// A graph input's declaration: the calling convention (name, dtype, dims) and its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDecl {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<Dim>,
    pub kind: InputKind,
}

/// What a graph input is to its caller. To shape inference, the scheduler and the backends
/// both are input buffers; they differ in who supplies them and in how they are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputKind {
    /// Passed with every call (`input x: f32[N, 3]`); dims may be symbols.
    Data,
    /// A weight (`param w: f32[64, 3]`): fixed dims, bound once when a compiled function is
    /// instantiated (`kiln::CompiledFunction::bind`). Hashed by name, dtype and shape, never
    /// by value, so models that differ only in their weights share compiled code.
    Param,
}

impl InputDecl {
    pub fn is_param(&self) -> bool {
        self.kind == InputKind::Param
    }

    /// The fixed shape of a parameter (or of any input whose dims are all integers).
    pub fn fixed_shape(&self) -> Option<Vec<usize>> {
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => usize::try_from(*v).ok(),
                Dim::Sym(_) => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// The `index`-th graph input.
    Input(usize),
    /// A tensor constant (`tensor([...], dtype=f32)`), hashed by value.
    Constant(Tensor),
    Op(Op),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value's name in the text format (`t` in `t = mul(x, s)`).
    pub name: String,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    inputs: Vec<InputDecl>,
    g: DiGraph<Node, u32>,
    outputs: Vec<NodeId>,
    by_name: HashMap<String, NodeId>,
    /// Per node, its dtype and rank when its checks passed as it was added (nodes never change
    /// once added): [`crate::value_info`] answers from it in constant time, where a walk over
    /// the node's ancestors made an importer calling it per node quadratic. `None` where a
    /// check failed; the walk then reports why.
    infos: Vec<Option<ValueInfo>>,
}

impl Graph {
    pub fn new(name: &str) -> Graph {
        Graph {
            name: name.to_string(),
            ..Graph::default()
        }
    }

    fn add_node(&mut self, name: &str, kind: NodeKind) -> Result<NodeId, IrError> {
        if self.by_name.contains_key(name) {
            return Err(IrError::DuplicateName {
                name: name.to_string(),
            });
        }
        let id = self.g.add_node(Node {
            name: name.to_string(),
            kind,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    pub fn add_input(
        &mut self,
        name: &str,
        dtype: DType,
        dims: Vec<Dim>,
    ) -> Result<NodeId, IrError> {
        self.add_decl(name, dtype, dims, InputKind::Data)
    }

    /// Adds a parameter: a named weight of fixed shape, bound when the compiled function is
    /// instantiated rather than passed per call (see [`InputKind::Param`]). It is the next
    /// graph input, so interpreters and launchers take it in declaration order.
    pub fn add_param(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[usize],
    ) -> Result<NodeId, IrError> {
        let dims = shape
            .iter()
            .map(|&d| i64::try_from(d).map(Dim::Fixed))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| IrError::Invalid {
                node: name.to_string(),
                op: "param".to_string(),
                msg: format!("shape {shape:?} has a dim too large for a size"),
            })?;
        self.add_decl(name, dtype, dims, InputKind::Param)
    }

    fn add_decl(
        &mut self,
        name: &str,
        dtype: DType,
        dims: Vec<Dim>,
        kind: InputKind,
    ) -> Result<NodeId, IrError> {
        let index = self.inputs.len();
        let id = self.add_node(name, NodeKind::Input(index))?;
        self.inputs.push(InputDecl {
            name: name.to_string(),
            dtype,
            dims,
            kind,
        });
        self.record_info(id);
        Ok(id)
    }

    pub fn add_constant(&mut self, name: &str, value: Tensor) -> Result<NodeId, IrError> {
        let id = self.add_node(name, NodeKind::Constant(value))?;
        self.record_info(id);
        Ok(id)
    }

    /// Records the info of node `id`, just added (its operands' are recorded already).
    fn record_info(&mut self, id: NodeId) {
        let infos = &self.infos;
        let lookup = |o: NodeId| {
            infos
                .get(o.index())
                .copied()
                .flatten()
                .ok_or_else(|| format!("operand #{} has no info", o.index()))
        };
        let info = crate::infer::node_info(self, id, &lookup).ok();
        self.infos.push(info);
    }

    /// Node `id`'s dtype and rank as recorded when it was added (see the field).
    pub(crate) fn recorded_info(&self, id: NodeId) -> Option<ValueInfo> {
        self.infos.get(id.index()).copied().flatten()
    }

    /// Adds an op node. Its operands must already be in the graph. Types and ranks are checked
    /// by [`crate::validate`], not here, so that a parser can report every problem by node name.
    pub fn add_op(&mut self, name: &str, op: Op) -> Result<NodeId, IrError> {
        let inputs = op.inputs();
        for &i in &inputs {
            if i.index() >= self.g.node_count() {
                return Err(IrError::UnknownOperand {
                    node: name.to_string(),
                });
            }
        }
        let id = self.add_node(name, NodeKind::Op(op))?;
        for (pos, i) in inputs.into_iter().enumerate() {
            self.g.add_edge(i, id, pos as u32);
        }
        self.record_info(id);
        Ok(id)
    }

    /// Declares the graph's outputs, by node; an output's name is its node's name.
    pub fn set_outputs(&mut self, outputs: Vec<NodeId>) -> Result<(), IrError> {
        for &o in &outputs {
            if o.index() >= self.g.node_count() {
                return Err(IrError::UnknownOperand {
                    node: "output".to_string(),
                });
            }
        }
        self.outputs = outputs;
        Ok(())
    }

    /// Every input in declaration order, data inputs and parameters alike (the order the
    /// interpreter and the launchers take tensors in).
    pub fn inputs(&self) -> &[InputDecl] {
        &self.inputs
    }
    /// The parameters, in declaration order.
    pub fn params(&self) -> impl Iterator<Item = &InputDecl> + '_ {
        self.inputs.iter().filter(|d| d.is_param())
    }
    /// The data inputs (passed with every call), in declaration order.
    pub fn data_inputs(&self) -> impl Iterator<Item = &InputDecl> + '_ {
        self.inputs.iter().filter(|d| !d.is_param())
    }
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs
            .iter()
            .map(|&o| self.node(o).name.as_str())
            .collect()
    }
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id]
    }
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }
    pub fn len(&self) -> usize {
        self.g.node_count()
    }
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }
    /// Node ids in insertion order, which is topological.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_indices()
    }
    /// The nodes that use `id` as an operand.
    pub fn users(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.g.neighbors_directed(id, petgraph::Direction::Outgoing)
    }
    /// `(name, declared dims)` of every input, the form [`kiln_shape::bind_symbols`] takes.
    pub fn input_dims(&self) -> Vec<(String, Vec<Dim>)> {
        self.inputs
            .iter()
            .map(|i| (i.name.clone(), i.dims.clone()))
            .collect()
    }
    /// `base` if no node has that name, else `base_1`, `base_2`, ...: names for the
    /// intermediate nodes a composite adds (`linear` adds `fc_weight_t` before `fc`).
    pub fn fresh_name(&self, base: &str) -> String {
        if !self.by_name.contains_key(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !self.by_name.contains_key(n))
            .expect("an unused name exists")
    }
    pub fn petgraph(&self) -> &DiGraph<Node, u32> {
        &self.g
    }
}
