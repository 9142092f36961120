//! Canonical bytes of a graph for hashing: what the graph computes, and nothing else.
//!
//! Live nodes are renumbered in a depth-first post-order from the outputs (in output order,
//! operands in argument order), so neither the insertion order of independent nodes nor the
//! names of intermediate values matter, and dead nodes disappear. Inputs keep their declared
//! order, names, dtypes and dims (they are the calling convention) and take the first ids;
//! outputs keep their names. Constants are hashed by value. The graph's name is left out.
//!
//! The encoding is postcard over the types below and over [`Op`]'s serde derive, behind
//! [`CANON_VERSION`]: any change to these types, or to the variant order of the op enums,
//! changes hashes and must bump the version.
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dtype::DType;
use crate::graph::{Graph, InputDecl, NodeId, NodeKind};
use crate::op::{Op, Operand};

/// Prefixed to the canonical bytes; bump it whenever the encoding changes.
pub const CANON_VERSION: &[u8] = b"kiln-canon-v2\0";

#[derive(Serialize)]
struct CanonicalGraph<'a> {
    inputs: &'a [InputDecl],
    /// Constants and ops in post-order; node `i` of this list has id `inputs.len() + i`.
    nodes: Vec<CanonicalNode>,
    /// `(name, canonical id)` in output order.
    outputs: Vec<(&'a str, u32)>,
}

#[derive(Serialize)]
enum CanonicalNode {
    Constant {
        dtype: DType,
        shape: Vec<u64>,
        data: Vec<u8>,
    },
    /// The op with its operands renumbered to canonical ids.
    Op(Op),
}

/// A deterministic serialization of what the graph computes (see the module docs).
pub fn canonical_bytes(g: &Graph) -> Vec<u8> {
    let order = post_order(g);
    let mut canonical_id: Vec<Option<u32>> = vec![None; g.len()];
    let mut next: u32 = 0;
    for id in g.node_ids() {
        if matches!(g.node(id).kind, NodeKind::Input(_)) {
            canonical_id[id.index()] = Some(input_slot(g, id));
        }
    }
    let first_node = u32::try_from(g.inputs().len()).unwrap_or(u32::MAX);
    let mut nodes = Vec::with_capacity(order.len());
    for &id in &order {
        let node = match &g.node(id).kind {
            NodeKind::Input(_) => continue,
            NodeKind::Constant(t) => CanonicalNode::Constant {
                dtype: t.dtype,
                shape: t.shape.iter().map(|&d| d as u64).collect(),
                data: t.data.to_vec(),
            },
            NodeKind::Op(op) => {
                let renumber = |i: NodeId| {
                    NodeId::new(canonical_id[i.index()].map_or(u32::MAX as usize, |c| c as usize))
                };
                CanonicalNode::Op(normalize(op.map_inputs(&renumber)))
            }
        };
        canonical_id[id.index()] = Some(first_node.saturating_add(next));
        next = next.saturating_add(1);
        nodes.push(node);
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|&o| {
            let id = canonical_id[o.index()].unwrap_or(u32::MAX);
            (g.node(o).name.as_str(), id)
        })
        .collect();
    let canonical = CanonicalGraph {
        inputs: g.inputs(),
        nodes,
        outputs,
    };
    let mut bytes = CANON_VERSION.to_vec();
    // Serializing plain data into a Vec cannot fail; an empty body would still be versioned.
    if let Ok(body) = postcard::to_allocvec(&canonical) {
        bytes.extend_from_slice(&body);
    }
    bytes
}

/// SHA-256 of [`canonical_bytes`].
pub fn graph_hash(g: &Graph) -> [u8; 32] {
    Sha256::digest(canonical_bytes(g)).into()
}

fn input_slot(g: &Graph, id: NodeId) -> u32 {
    match g.node(id).kind {
        NodeKind::Input(index) => u32::try_from(index).unwrap_or(u32::MAX),
        _ => u32::MAX,
    }
}

/// Fields an op ignores are fixed, and every NaN scalar is the same NaN, so that ops that
/// compute the same thing encode the same.
fn normalize(mut op: Op) -> Op {
    let scalar = |o: &mut Operand| {
        if let Operand::Scalar(v) = o
            && v.is_nan()
        {
            *v = f64::NAN;
        }
    };
    match &mut op {
        Op::Binary { a, b, .. } => {
            scalar(a);
            scalar(b);
        }
        Op::Where { cond, a, b } => {
            scalar(cond);
            scalar(a);
            scalar(b);
        }
        Op::MaxPool2d { params, .. }
        | Op::MaxPool2dBackward { params, .. }
        | Op::MaxPool2dIndices { params, .. } => {
            params.count_include_pad = true;
            params.divisor_override = None;
        }
        Op::AvgPool2d { params, .. } | Op::AvgPool2dBackward { params, .. } => {
            params.dilation = [1, 1]
        }
        // The reduced dims are a set: `sum(x, [3, 2])` is `sum(x, [2, 3])`. (A negative dim
        // and its positive spelling still hash apart: that costs a miss, never a wrong kernel.)
        Op::Reduce { dims, .. } => {
            dims.sort_unstable();
            dims.dedup();
        }
        _ => {}
    }
    op
}

/// Live nodes in depth-first post-order from the outputs, operands in argument order.
/// Iterative, so that long chains cannot overflow the stack.
fn post_order(g: &Graph) -> Vec<NodeId> {
    let mut visited = vec![false; g.len()];
    let mut order = Vec::new();
    // (node, whether its operands have been pushed)
    let mut stack: Vec<(NodeId, bool)> = Vec::new();
    for &out in g.outputs() {
        stack.push((out, false));
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
                continue;
            }
            if visited[id.index()] {
                continue;
            }
            visited[id.index()] = true;
            stack.push((id, true));
            if let NodeKind::Op(op) = &g.node(id).kind {
                // Reversed, so that the first operand is visited first.
                for operand in op.inputs().into_iter().rev() {
                    if !visited[operand.index()] {
                        stack.push((operand, false));
                    }
                }
            }
        }
    }
    order
}
