//! ONNX's gather ops on data tensors: `Gather` (a 0-d index: `select`; a 1-D index:
//! `index_select`; an N-D index into a 2-D table along axis 0: `embedding`), `GatherElements`
//! (`gather`) and `ScatterElements` with `reduction="add"` (`scatter_add`). Folded constant
//! indices become an i64 constant; ONNX's negative indices are accepted only where kiln can
//! resolve them at import (a constant index into a dim of known size is not: it is refused
//! as unsupported, and an index computed at run time must be in range, as in PyTorch).
use kiln_ir::{NodeId, Op, Tensor};

use super::ops::{NodeError, input};
use super::{Attrs, Importer, Value};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

/// An index operand: a graph value, or a folded constant (with whether it was 0-d).
enum Index {
    Node(NodeId),
    Const(Vec<i64>, bool),
}

fn index_of(imp: &Importer, node: &NodeProto, i: usize) -> Result<Index, NodeError> {
    let name =
        input(node, i).ok_or_else(|| Attrs::new(node).err(format!("input {i} is missing")))?;
    match imp.values.get(name) {
        Some(Value::Ints(v)) => {
            let ints = v.as_i64().ok_or(NodeError::Unsupported)?;
            Ok(Index::Const(ints, v.scalar))
        }
        _ => Ok(Index::Node(imp.arg_at(node, i)?)),
    }
}

/// The index as a graph value (a constant is added as an i64 tensor, `shape` or 1-D).
fn index_node(imp: &mut Importer, node: &NodeProto, idx: Index) -> Result<NodeId, NodeError> {
    match idx {
        Index::Node(id) => Ok(id),
        Index::Const(v, _) if v.iter().any(|&i| i < 0) => Err(NodeError::Unsupported),
        Index::Const(v, scalar) => {
            let shape: &[usize] = if scalar { &[] } else { &[v.len()] };
            let name = imp.name_for(&format!("{}_index", super::node_name(node)));
            Ok(imp.g.add_constant(&name, Tensor::from_i64(shape, &v))?)
        }
    }
}

fn rank(imp: &Importer, id: NodeId) -> Result<usize, NodeError> {
    kiln_ir::value_info(&imp.g, id)?
        .rank
        .ok_or(NodeError::Unsupported)
}

pub(crate) fn import(imp: &mut Importer, node: &NodeProto, op: &str) -> R {
    let a = Attrs::new(node);
    let x = imp.arg_at(node, 0)?;
    let axis = a.int("axis", 0);
    let idx = index_of(imp, node, 1)?;
    let out = match op {
        "Gather" => gather(imp, node, x, axis, idx)?,
        "GatherElements" => {
            let index = index_node(imp, node, idx)?;
            Op::Gather {
                x,
                dim: axis,
                index,
            }
        }
        _ => {
            // ScatterElements: only the add reduction maps to a kiln op.
            if a.string("reduction").as_deref() != Some("add") {
                return Err(NodeError::Unsupported);
            }
            let index = index_node(imp, node, idx)?;
            let src = imp.arg_at(node, 2)?;
            Op::ScatterAdd {
                x,
                dim: axis,
                index,
                src,
            }
        }
    };
    let name = imp.out_name(node, 0);
    let id = imp.g.add_op(&name, out)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn gather(
    imp: &mut Importer,
    node: &NodeProto,
    x: NodeId,
    axis: i64,
    idx: Index,
) -> Result<Op, NodeError> {
    if let Index::Const(v, true) = &idx {
        // A scalar constant: select, which takes a negative index as ONNX does.
        return Ok(Op::Select {
            x,
            dim: axis,
            index: v[0],
        });
    }
    let index = index_node(imp, node, idx)?;
    match rank(imp, index)? {
        1 => Ok(Op::IndexSelect {
            x,
            dim: axis,
            index,
        }),
        0 => {
            // A scalar index computed at run time: index_select keeps the dim, squeeze drops it.
            let name = imp.name_for(&format!("{}_select", super::node_name(node)));
            let sel = imp.g.add_op(
                &name,
                Op::IndexSelect {
                    x,
                    dim: axis,
                    index,
                },
            )?;
            Ok(Op::Squeeze {
                x: sel,
                dims: Some(vec![axis]),
            })
        }
        _ if axis == 0 && rank(imp, x)? == 2 => Ok(Op::Embedding {
            indices: index,
            weight: x,
            padding_idx: None,
        }),
        _ => Err(NodeError::Unsupported),
    }
}
