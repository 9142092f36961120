//! The ONNX op table: one function per op type, mapping a node onto kiln ops (PyTorch
//! semantics; ONNX's differences handled here: broadcasting is the same, `Softmax` before
//! opset 13 flattens, reductions take `axes` as an attribute or an input by opset).
use kiln_ir::{BinaryOp, DType, Op, Operand, ReduceOp, UnaryOp};

use super::{Attrs, Importer, Ints, Value};
use crate::error::OnnxError;
use crate::proto::NodeProto;

pub(crate) enum NodeError {
    /// kiln has no mapping for this op (or these attributes): collected and reported together.
    Unsupported,
    Failed(OnnxError),
}

impl From<OnnxError> for NodeError {
    fn from(e: OnnxError) -> Self {
        NodeError::Failed(e)
    }
}

impl From<kiln_ir::IrError> for NodeError {
    fn from(e: kiln_ir::IrError) -> Self {
        NodeError::Failed(e.into())
    }
}

type R = Result<(), NodeError>;

fn unary(op_type: &str) -> Option<UnaryOp> {
    Some(match op_type {
        "Relu" => UnaryOp::Relu,
        "Sigmoid" => UnaryOp::Sigmoid,
        "Tanh" => UnaryOp::Tanh,
        "Exp" => UnaryOp::Exp,
        "Log" => UnaryOp::Log,
        "Sqrt" => UnaryOp::Sqrt,
        "Abs" => UnaryOp::Abs,
        "Neg" => UnaryOp::Neg,
        "Reciprocal" => UnaryOp::Reciprocal,
        "Floor" => UnaryOp::Floor,
        "Ceil" => UnaryOp::Ceil,
        "Sin" => UnaryOp::Sin,
        "Cos" => UnaryOp::Cos,
        "Not" => UnaryOp::LogicalNot,
        _ => return None,
    })
}

fn binary(op_type: &str) -> Option<BinaryOp> {
    Some(match op_type {
        "Add" | "Sum" => BinaryOp::Add,
        "Sub" => BinaryOp::Sub,
        "Mul" => BinaryOp::Mul,
        "Div" => BinaryOp::Div,
        "Pow" => BinaryOp::Pow,
        "Max" => BinaryOp::Maximum,
        "Min" => BinaryOp::Minimum,
        "Equal" => BinaryOp::Eq,
        "Less" => BinaryOp::Lt,
        "LessOrEqual" => BinaryOp::Le,
        "Greater" => BinaryOp::Gt,
        "GreaterOrEqual" => BinaryOp::Ge,
        "And" => BinaryOp::LogicalAnd,
        "Or" => BinaryOp::LogicalOr,
        _ => return None,
    })
}

/// Input `i` of `node` (empty names are absent optional inputs).
pub(crate) fn input(node: &NodeProto, i: usize) -> Option<&str> {
    node.input
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

impl Importer<'_> {
    pub(crate) fn arg_at(&self, node: &NodeProto, i: usize) -> Result<kiln_ir::NodeId, OnnxError> {
        let name =
            input(node, i).ok_or_else(|| Attrs::new(node).err(format!("input {i} is missing")))?;
        self.node_of(name, &format!("input {i} of `{}`", super::node_name(node)))
    }

    /// The value of a one-element constant (a folded initializer), e.g. `Clip`'s bounds.
    pub(crate) fn scalar_constant(&self, name: &str) -> Option<f64> {
        let Some(Value::Node(id)) = self.values.get(name) else {
            return None;
        };
        match &self.g.node(*id).kind {
            kiln_ir::NodeKind::Constant(t) if t.numel() == 1 => t.to_f64().first().copied(),
            _ => None,
        }
    }

    /// [`Importer::ints_input`], for the model ops.
    pub(crate) fn ints_arg(
        &self,
        node: &NodeProto,
        i: usize,
    ) -> Result<Option<Vec<i64>>, NodeError> {
        self.ints_input(node, i)
    }

    fn ints_input(&self, node: &NodeProto, i: usize) -> Result<Option<Vec<i64>>, NodeError> {
        let Some(name) = input(node, i) else {
            return Ok(None);
        };
        match self.values.get(name) {
            Some(Value::Ints(v)) => v.as_i64().map(Some).ok_or_else(|| {
                NodeError::Failed(Attrs::new(node).err(format!(
                    "input {i} ({name}) must be constant but is {:?}",
                    v.vals.iter().map(ToString::to_string).collect::<Vec<_>>()
                )))
            }),
            // A computed integer tensor (not foldable at import).
            _ => Err(NodeError::Unsupported),
        }
    }

    /// Adds `op` as the kiln node for the node's output `k`.
    fn define(&mut self, node: &NodeProto, k: usize, op: Op) -> R {
        let onnx = node.output.get(k).cloned().unwrap_or_default();
        let name = self.name_for(&onnx);
        let id = self.g.add_op(&name, op)?;
        self.values.insert(onnx, Value::Node(id));
        Ok(())
    }

    /// An alias: output `k` is the same value as `id` (Identity, Dropout in inference).
    fn alias(&mut self, node: &NodeProto, k: usize, id: kiln_ir::NodeId) {
        let onnx = node.output.get(k).cloned().unwrap_or_default();
        self.values.insert(onnx, Value::Node(id));
    }
}

fn reduce_op(op_type: &str) -> Option<ReduceOp> {
    Some(match op_type {
        "ReduceSum" => ReduceOp::Sum,
        "ReduceMean" => ReduceOp::Mean,
        "ReduceMax" => ReduceOp::Amax,
        "ReduceMin" => ReduceOp::Amin,
        _ => return None,
    })
}

fn cast_dtype(code: i64) -> Option<DType> {
    crate::tensor::kiln_dtype(i32::try_from(code).ok()?)
}

pub(crate) fn import_node(imp: &mut Importer, node: &NodeProto) -> R {
    let op_type = super::op_type(node);
    let a = Attrs::new(node);
    if let Some(r) = super::shape_values::fold(imp, node, &op_type, &a) {
        return r;
    }
    if let Some(op) = unary(&op_type) {
        let x = imp.arg_at(node, 0)?;
        return imp.define(node, 0, Op::Unary { op, x });
    }
    if let Some(op) = binary(&op_type) {
        // Before opset 7, `broadcast=1` with an `axis` aligned the second operand at that
        // axis, not on the right as numpy (and kiln) do.
        let has_axis = node
            .attribute
            .iter()
            .any(|x| x.name.as_deref() == Some("axis"));
        if a.int("broadcast", 0) == 1 && has_axis {
            return Err(NodeError::Unsupported);
        }
        // Variadic Sum/Max/Min fold left.
        let mut acc = imp.arg_at(node, 0)?;
        if node.input.len() == 1 {
            imp.alias(node, 0, acc);
            return Ok(());
        }
        for i in 1..node.input.len() {
            let b = imp.arg_at(node, i)?;
            let op = Op::Binary {
                op,
                a: Operand::Value(acc),
                b: Operand::Value(b),
            };
            if i + 1 == node.input.len() {
                return imp.define(node, 0, op);
            }
            let name = imp.name_for(&format!("{}_{i}", super::node_name(node)));
            acc = imp.g.add_op(&name, op)?;
        }
        return Ok(());
    }
    if let Some(op) = reduce_op(&op_type) {
        let x = imp.arg_at(node, 0)?;
        let axes_from_input = (op_type == "ReduceSum" && imp.opset >= 13) || imp.opset >= 18;
        let axes = if axes_from_input {
            imp.ints_input(node, 1)?
        } else {
            a.ints("axes")
        };
        let axes = axes.unwrap_or_default();
        if axes.is_empty() && a.int("noop_with_empty_axes", 0) == 1 {
            imp.alias(node, 0, x);
            return Ok(());
        }
        let keepdim = a.int("keepdims", 1) == 1;
        return imp.define(
            node,
            0,
            Op::Reduce {
                op,
                x,
                dims: axes,
                keepdim,
            },
        );
    }
    match op_type.as_str() {
        "Identity" => {
            let x = imp.arg_at(node, 0)?;
            imp.alias(node, 0, x);
            Ok(())
        }
        // In inference Dropout is the identity; its mask output (if any) is left undefined, so
        // a model that reads it fails to import naming it.
        "Dropout" => {
            let x = imp.arg_at(node, 0)?;
            imp.alias(node, 0, x);
            Ok(())
        }
        "Where" => {
            let (c, x, y) = (
                imp.arg_at(node, 0)?,
                imp.arg_at(node, 1)?,
                imp.arg_at(node, 2)?,
            );
            imp.define(
                node,
                0,
                Op::Where {
                    cond: Operand::Value(c),
                    a: Operand::Value(x),
                    b: Operand::Value(y),
                },
            )
        }
        "Cast" => {
            let x = imp.arg_at(node, 0)?;
            let dtype = cast_dtype(a.int("to", 0)).ok_or(NodeError::Unsupported)?;
            imp.define(node, 0, Op::Cast { x, dtype })
        }
        "Softmax" if imp.opset >= 13 => {
            let x = imp.arg_at(node, 0)?;
            imp.define(
                node,
                0,
                Op::Softmax {
                    x,
                    dim: a.int("axis", -1),
                },
            )
        }
        "Transpose" => {
            let x = imp.arg_at(node, 0)?;
            let rank = kiln_ir::value_info(&imp.g, x)?
                .rank
                .ok_or(NodeError::Unsupported)?;
            let perm = a
                .ints("perm")
                .unwrap_or_else(|| (0..rank as i64).rev().collect());
            imp.define(node, 0, Op::Permute { x, dims: perm })
        }
        "Unsqueeze" | "Squeeze" => squeeze(imp, node, &op_type == "Unsqueeze"),
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let x = imp.arg_at(node, 0)?;
            let op = if op_type == "GlobalAveragePool" {
                Op::AdaptiveAvgPool2d {
                    x,
                    output_size: [1, 1],
                }
            } else {
                Op::AdaptiveMaxPool2d {
                    x,
                    output_size: [1, 1],
                }
            };
            imp.define(node, 0, op)
        }
        "Softmax" => super::math::legacy_softmax(imp, node, &a, false),
        "Constant" => constant(imp, node, &a),
        other => {
            super::models::import_model_op(imp, node, other).unwrap_or(Err(NodeError::Unsupported))
        }
    }
}

fn squeeze(imp: &mut Importer, node: &NodeProto, unsqueeze: bool) -> R {
    let a = Attrs::new(node);
    let x = imp.arg_at(node, 0)?;
    let axes = if imp.opset >= 13 {
        imp.ints_input(node, 1)?
    } else {
        a.ints("axes")
    };
    if !unsqueeze {
        return imp.define(node, 0, Op::Squeeze { x, dims: axes });
    }
    let mut axes = axes.ok_or_else(|| a.err("Unsqueeze needs axes"))?;
    let rank = kiln_ir::value_info(&imp.g, x)?
        .rank
        .ok_or(NodeError::Unsupported)? as i64;
    let out_rank = rank + axes.len() as i64;
    for ax in &mut axes {
        if *ax < 0 {
            *ax += out_rank;
        }
    }
    axes.sort_unstable();
    let mut cur = x;
    for (i, &ax) in axes.iter().enumerate() {
        let op = Op::Unsqueeze { x: cur, dim: ax };
        if i + 1 == axes.len() {
            return imp.define(node, 0, op);
        }
        let name = imp.name_for(&format!("{}_{i}", super::node_name(node)));
        cur = imp.g.add_op(&name, op)?;
    }
    imp.alias(node, 0, cur);
    Ok(())
}

fn constant(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let onnx = node.output.first().cloned().unwrap_or_default();
    if let Some(v) = a.ints("value_ints") {
        imp.values.insert(onnx, Value::Ints(Ints::fixed(v, false)));
        return Ok(());
    }
    let t = a.tensor("value").ok_or(NodeError::Unsupported)?;
    let code = t.data_type.unwrap_or(0);
    let is_int = code == crate::tensor::INT64 || code == crate::tensor::INT32;
    if is_int || crate::tensor::kiln_dtype(code).is_none() {
        let ints = crate::tensor::int_values(t, imp.dir)?;
        imp.values
            .insert(onnx, Value::Ints(Ints::fixed(ints, t.dims.is_empty())));
        return Ok(());
    }
    let tensor = crate::tensor::tensor_from_proto(t, imp.dir)?;
    let name = imp.name_for(&onnx);
    let id = imp.g.add_constant(&name, tensor)?;
    imp.values.insert(onnx, Value::Node(id));
    Ok(())
}
