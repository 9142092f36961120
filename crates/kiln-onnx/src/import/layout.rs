//! The ONNX ops of exported graphs that move data or compute shapes: Flatten, Reshape and
//! Expand of shapes folded at import, Concat (of tensors, or of shapes being built),
//! ConstantOfShape, Slice, Split, Pad and Tile, on kiln's builders.
use kiln_ir::Op;
use kiln_ir::build::{grad, movement};
use kiln_shape::Dim;

use super::ops::{NodeError, input};
use super::shape_values::{Target, broadcast_target, reshape_target};
use super::{Attrs, Importer};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

pub(super) fn flatten_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    // ONNX Flatten makes a 2-d tensor: dims before `axis` and from it.
    let x = imp.arg_at(node, 0)?;
    let rank = kiln_ir::value_info(&imp.g, x)?
        .rank
        .ok_or(NodeError::Unsupported)? as i64;
    let axis = a.int("axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis };
    let base = imp.out_name(node, 0);
    if axis == rank {
        // Everything in the first dim, and a trailing dim of 1.
        let n = imp.g.fresh_name(&format!("{base}_all"));
        let all = imp.g.add_op(
            &n,
            Op::Flatten {
                x,
                start_dim: 0,
                end_dim: -1,
            },
        )?;
        let id = imp.g.add_op(&base, Op::Unsqueeze { x: all, dim: 1 })?;
        imp.bind_out(node, 0, id);
        return Ok(());
    }
    if axis == 0 {
        let n = imp.g.fresh_name(&format!("{base}_one"));
        let u = imp.g.add_op(&n, Op::Unsqueeze { x, dim: 0 })?;
        let id = imp.g.add_op(
            &base,
            Op::Flatten {
                x: u,
                start_dim: 1,
                end_dim: -1,
            },
        )?;
        imp.bind_out(node, 0, id);
        return Ok(());
    }
    let n = imp.g.fresh_name(&format!("{base}_head"));
    let head = imp.g.add_op(
        &n,
        Op::Flatten {
            x,
            start_dim: 0,
            end_dim: axis - 1,
        },
    )?;
    let id = imp.g.add_op(
        &base,
        Op::Flatten {
            x: head,
            start_dim: 1,
            end_dim: -1,
        },
    )?;
    imp.bind_out(node, 0, id);
    Ok(())
}

pub(super) fn reshape_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let shape = imp
        .ints_value(node, 1)
        .cloned()
        .ok_or_else(|| computed(node, 1))?;
    let target = reshape_target(imp, node, x, &shape, a.int("allowzero", 0) == 1)?;
    let name = imp.out_name(node, 0);
    let id = match target {
        Target::Dims(shape) => imp.g.add_op(&name, Op::Reshape { x, shape })?,
        Target::Like(like) => grad::reshape_as(&mut imp.g, &name, x, like)?,
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

/// A shape input that is computed from data, not from shapes: kiln cannot fold it.
fn computed(node: &NodeProto, i: usize) -> NodeError {
    NodeError::Failed(Attrs::new(node).err(format!(
        "input {i} (the shape) is computed from tensor data, which cannot be folded at import"
    )))
}

pub(super) fn concat_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let axis = a.int("axis", 0);
    // Shapes being built (Concat of Ints) are folded before (shape_values.rs).
    let tensors = (0..node.input.len())
        .map(|i| imp.arg_at(node, i))
        .collect::<Result<Vec<_>, _>>()?;
    let name = imp.out_name(node, 0);
    let id = movement::cat(&mut imp.g, &name, &tensors, axis)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `ConstantOfShape(shape)`: the `value` attribute (default float 0) broadcast to a shape
/// folded at import; never materialised (an expand of a one-element constant).
pub(super) fn constant_of_shape(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let shape = imp
        .ints_value(node, 0)
        .cloned()
        .ok_or_else(|| computed(node, 0))?;
    let target = broadcast_target(node, &shape)?;
    let value = match a.tensor("value") {
        Some(t) => crate::tensor::tensor_from_proto(t, imp.dir)?,
        None => kiln_ir::Tensor::from_f32(&[1], &[0.0]),
    };
    let base = imp.out_name(node, 0);
    let scalar = kiln_ir::Tensor::from_f64(value.dtype, &[], &value.to_f64()[..1]);
    let n = imp.g.fresh_name(&format!("{base}_value"));
    let c = imp.g.add_constant(&n, scalar)?;
    let id = match target {
        Target::Dims(shape) => imp.g.add_op(&base, Op::Expand { x: c, shape })?,
        Target::Like(like) => grad::expand_as(&mut imp.g, &base, c, like)?,
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `Expand(x, shape)` with a shape folded at import.
pub(super) fn expand_node(imp: &mut Importer, node: &NodeProto) -> R {
    let x = imp.arg_at(node, 0)?;
    let shape = imp
        .ints_value(node, 1)
        .cloned()
        .ok_or_else(|| computed(node, 1))?;
    let name = imp.out_name(node, 0);
    let id = match broadcast_target(node, &shape)? {
        // ONNX broadcasts both ways; where the target says 1, keep the input's size (-1).
        Target::Dims(shape) => {
            let shape = shape
                .into_iter()
                .map(|d| {
                    if d == Dim::Fixed(1) {
                        Dim::Fixed(-1)
                    } else {
                        d
                    }
                })
                .collect();
            imp.g.add_op(&name, Op::Expand { x, shape })?
        }
        Target::Like(like) => grad::expand_as(&mut imp.g, &name, x, like)?,
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `onnx` axes/starts/ends from an input (opset >= 10) or an attribute.
pub(super) fn ints_of(
    imp: &Importer,
    node: &NodeProto,
    a: &Attrs,
    i: usize,
    attr: &str,
    by_input: bool,
) -> Result<Option<Vec<i64>>, NodeError> {
    if by_input {
        imp.ints_arg(node, i)
    } else {
        Ok(a.ints(attr))
    }
}

pub(super) fn slice_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let by_input = imp.opset >= 10;
    let mut x = imp.arg_at(node, 0)?;
    let starts = ints_of(imp, node, a, 1, "starts", by_input)?.ok_or(NodeError::Unsupported)?;
    let ends = ints_of(imp, node, a, 2, "ends", by_input)?.ok_or(NodeError::Unsupported)?;
    let axes = ints_of(imp, node, a, 3, "axes", by_input)?
        .unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = if by_input {
        imp.ints_arg(node, 4)?
    } else {
        None
    }
    .unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(a
            .err("starts, ends, axes and steps differ in length")
            .into());
    }
    let base = imp.out_name(node, 0);
    for (k, (((&s, &e), &ax), &st)) in starts.iter().zip(&ends).zip(&axes).zip(&steps).enumerate() {
        if st <= 0 {
            return Err(NodeError::Unsupported); // negative steps: kiln slices forward only
        }
        // ONNX clamps huge ends (INT64_MAX means "to the end").
        let end = if e >= i64::MAX / 2 { None } else { Some(e) };
        let name = if k + 1 == starts.len() {
            base.clone()
        } else {
            imp.g.fresh_name(&format!("{base}_{k}"))
        };
        x = movement::slice(&mut imp.g, &name, x, ax, Some(s), end, st)?;
    }
    imp.bind_out(node, 0, x);
    Ok(())
}

pub(super) fn split_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let axis = a.int("axis", 0);
    let sizes = if imp.opset >= 13 {
        imp.ints_arg(node, 1)?
    } else {
        a.ints("split").filter(|v| !v.is_empty())
    };
    let split = match sizes {
        Some(v) => kiln_ir::Split::Sections(v),
        None => kiln_ir::Split::Chunks(node.output.len() as i64),
    };
    let names: Vec<String> = (0..node.output.len())
        .map(|k| imp.out_name(node, k))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = movement::split(&mut imp.g, &refs, x, split, axis)?;
    for (k, id) in ids.into_iter().enumerate() {
        imp.bind_out(node, k, id);
    }
    Ok(())
}

pub(super) fn pad_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let (pads, value) = if imp.opset >= 11 {
        let pads = imp.ints_arg(node, 1)?.ok_or(NodeError::Unsupported)?;
        let value = match input(node, 2) {
            None => 0.0,
            Some(n) => imp.scalar_constant(n).ok_or(NodeError::Unsupported)?,
        };
        (pads, value)
    } else {
        (
            a.ints("pads").unwrap_or_default(),
            f64::from(a.float("value", 0.0)),
        )
    };
    if input(node, 3).is_some() {
        return Err(NodeError::Unsupported); // axes
    }
    let mode = match a.string("mode").as_deref().unwrap_or("constant") {
        "constant" => kiln_ir::PadMode::Constant,
        "reflect" => kiln_ir::PadMode::Reflect,
        "edge" => kiln_ir::PadMode::Replicate,
        _ => return Err(NodeError::Unsupported),
    };
    // ONNX: [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; PyTorch: last dim first, (left, right).
    let rank = pads.len() / 2;
    let mut torch_pads = Vec::with_capacity(pads.len());
    for d in (0..rank).rev() {
        torch_pads.extend([pads[d], pads[rank + d]]);
    }
    // Trailing zero pairs (leading dims) may be dropped, as PyTorch allows.
    while torch_pads.len() > 2 && torch_pads[torch_pads.len() - 2..] == [0, 0] {
        torch_pads.truncate(torch_pads.len() - 2);
    }
    let name = imp.out_name(node, 0);
    let value = (mode == kiln_ir::PadMode::Constant).then_some(value);
    let id = movement::pad(&mut imp.g, &name, x, &torch_pads, mode, value)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

pub(super) fn tile_node(imp: &mut Importer, node: &NodeProto) -> R {
    let x = imp.arg_at(node, 0)?;
    let repeats = imp.ints_arg(node, 1)?.ok_or(NodeError::Unsupported)?;
    let name = imp.out_name(node, 0);
    let id = movement::repeat(&mut imp.g, &name, x, &repeats)?;
    imp.bind_out(node, 0, id);
    Ok(())
}
