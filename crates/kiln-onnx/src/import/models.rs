//! The ONNX ops of real models: convolution, GEMM, normalisation, pooling, activations and
//! the data movement of exported graphs, mapped onto kiln's builders (`kiln_ir::build`), so
//! they decompose exactly as the text format's and the torch backend's ops do.
use kiln_ir::build::{activation, conv, linalg, movement, norm};
use kiln_ir::{NodeId, Op, Pool2d};
use kiln_shape::Dim;

use super::ops::{NodeError, input};
use super::{Attrs, Importer, Value};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

impl Importer<'_> {
    /// The kiln name for output `k` of `node`, and records it.
    fn out_name(&self, node: &NodeProto, k: usize) -> String {
        self.name_for(node.output.get(k).map(String::as_str).unwrap_or("out"))
    }
    fn bind_out(&mut self, node: &NodeProto, k: usize, id: NodeId) {
        let onnx = node.output.get(k).cloned().unwrap_or_default();
        self.values.insert(onnx, Value::Node(id));
    }
    fn opt_arg(&self, node: &NodeProto, i: usize) -> Result<Option<NodeId>, NodeError> {
        match input(node, i) {
            None => Ok(None),
            Some(_) => Ok(Some(self.arg_at(node, i)?)),
        }
    }
}

/// Symmetric pads from ONNX's `[begin..., end...]`, or `None` where they differ.
fn symmetric(pads: &[i64], rank: usize) -> Option<Vec<i64>> {
    if pads.is_empty() {
        return Some(vec![0; rank]);
    }
    let (b, e) = pads.split_at(pads.len() / 2);
    (b == e && b.len() == rank).then(|| b.to_vec())
}

fn conv_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let w = imp.arg_at(node, 1)?;
    let bias = imp.opt_arg(node, 2)?;
    let k = a.ints("kernel_shape").map(|k| k.len());
    let rank = k.unwrap_or(2);
    if !(1..=2).contains(&rank) || a.string("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err(NodeError::Unsupported);
    }
    let pads =
        symmetric(&a.ints("pads").unwrap_or_default(), rank).ok_or(NodeError::Unsupported)?;
    let args = conv::ConvArgs {
        stride: a.ints("strides").unwrap_or(vec![1; rank]),
        padding: conv::ConvPadding::Explicit(pads),
        dilation: a.ints("dilations").unwrap_or(vec![1; rank]),
        groups: a.int("group", 1),
    };
    let name = imp.out_name(node, 0);
    let id = if rank == 1 {
        conv::conv1d(&mut imp.g, &name, x, w, bias, &args)?
    } else {
        conv::conv2d(&mut imp.g, &name, x, w, bias, &args)?
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

fn pair(v: Option<Vec<i64>>, default: i64) -> Result<[i64; 2], NodeError> {
    match v.as_deref() {
        None => Ok([default, default]),
        Some([h, w]) => Ok([*h, *w]),
        _ => Err(NodeError::Unsupported),
    }
}

fn pool_node(imp: &mut Importer, node: &NodeProto, a: &Attrs, is_max: bool) -> R {
    let x = imp.arg_at(node, 0)?;
    if node.output.len() > 1 || a.string("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err(NodeError::Unsupported);
    }
    let kernel_size = pair(a.ints("kernel_shape"), 1)?;
    let pads = symmetric(&a.ints("pads").unwrap_or_default(), 2).ok_or(NodeError::Unsupported)?;
    let params = Pool2d {
        kernel_size,
        stride: pair(a.ints("strides"), 1)?,
        padding: [pads[0], pads[1]],
        dilation: if is_max {
            pair(a.ints("dilations"), 1)?
        } else {
            [1, 1]
        },
        ceil_mode: a.int("ceil_mode", 0) == 1,
        count_include_pad: is_max || a.int("count_include_pad", 0) == 1,
        divisor_override: None,
    };
    let op = if is_max {
        Op::MaxPool2d { x, params }
    } else {
        Op::AvgPool2d { x, params }
    };
    let name = imp.out_name(node, 0);
    let id = imp.g.add_op(&name, op)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `Gemm`: `alpha * A' @ B' + beta * C` with optional transposes.
fn gemm_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let (mut x, mut w) = (imp.arg_at(node, 0)?, imp.arg_at(node, 1)?);
    let c = imp.opt_arg(node, 2)?;
    let base = imp.out_name(node, 0);
    if a.int("transA", 0) == 1 {
        let n = imp.g.fresh_name(&format!("{base}_at"));
        x = imp.g.add_op(
            &n,
            Op::Transpose {
                x,
                dim0: 0,
                dim1: 1,
            },
        )?;
    }
    if a.int("transB", 0) == 1 {
        let n = imp.g.fresh_name(&format!("{base}_bt"));
        w = imp.g.add_op(
            &n,
            Op::Transpose {
                x: w,
                dim0: 0,
                dim1: 1,
            },
        )?;
    }
    let (alpha, beta) = (
        f64::from(a.float("alpha", 1.0)),
        f64::from(a.float("beta", 1.0)),
    );
    let id = match c {
        Some(c) => linalg::addmm(&mut imp.g, &base, c, x, w, beta, alpha)?,
        None if alpha == 1.0 => linalg::mm(&mut imp.g, &base, x, w)?,
        None => {
            let n = imp.g.fresh_name(&format!("{base}_mm"));
            let p = linalg::mm(&mut imp.g, &n, x, w)?;
            let op = Op::Binary {
                op: kiln_ir::BinaryOp::Mul,
                a: kiln_ir::Operand::Value(p),
                b: kiln_ir::Operand::Scalar(alpha),
            };
            imp.g.add_op(&base, op)?
        }
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

fn batch_norm_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    if a.int("training_mode", 0) == 1 || node.output.len() > 1 {
        return Err(NodeError::Unsupported);
    }
    let x = imp.arg_at(node, 0)?;
    let args = norm::BatchNorm {
        weight: Some(imp.arg_at(node, 1)?),
        bias: Some(imp.arg_at(node, 2)?),
        running_mean: Some(imp.arg_at(node, 3)?),
        running_var: Some(imp.arg_at(node, 4)?),
        training: false,
        momentum: f64::from(a.float("momentum", 0.9)),
        eps: f64::from(a.float("epsilon", 1e-5)),
    };
    let name = imp.out_name(node, 0);
    let ids = norm::batch_norm(&mut imp.g, &[&name], x, &args)?;
    imp.bind_out(node, 0, ids[0]);
    Ok(())
}

fn flatten_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    // ONNX Flatten makes a 2-d tensor: dims before `axis` and from it.
    let x = imp.arg_at(node, 0)?;
    let rank = kiln_ir::value_info(&imp.g, x)?
        .rank
        .ok_or(NodeError::Unsupported)? as i64;
    let axis = a.int("axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis };
    let base = imp.out_name(node, 0);
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

fn reshape_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let Some(Value::Ints(shape)) = input(node, 1).and_then(|n| imp.values.get(n)).cloned() else {
        return Err(NodeError::Unsupported);
    };
    // `0` copies the input's dim (unless allowzero): only where the input's dim is declared.
    if a.int("allowzero", 0) == 0 && shape.contains(&Dim::Fixed(0)) {
        return Err(NodeError::Unsupported);
    }
    let name = imp.out_name(node, 0);
    let id = imp.g.add_op(&name, Op::Reshape { x, shape })?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn concat_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let axis = a.int("axis", 0);
    // Shapes being built (Concat of Ints) fold at import.
    let all_ints: Option<Vec<Dim>> = node
        .input
        .iter()
        .map(|n| match imp.values.get(n) {
            Some(Value::Ints(v)) => Some(v.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat());
    if let Some(v) = all_ints {
        let onnx = node.output.first().cloned().unwrap_or_default();
        imp.values.insert(onnx, Value::Ints(v));
        return Ok(());
    }
    let tensors = (0..node.input.len())
        .map(|i| imp.arg_at(node, i))
        .collect::<Result<Vec<_>, _>>()?;
    let name = imp.out_name(node, 0);
    let id = movement::cat(&mut imp.g, &name, &tensors, axis)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn activation_node(imp: &mut Importer, node: &NodeProto, a: &Attrs, op: &str) -> R {
    let x = imp.arg_at(node, 0)?;
    let name = imp.out_name(node, 0);
    let g = &mut imp.g;
    let f = |k: &str, d: f32| f64::from(a.float(k, d));
    let id = match op {
        "LeakyRelu" => activation::leaky_relu(g, &name, x, f("alpha", 0.01))?,
        "Elu" => activation::elu(g, &name, x, f("alpha", 1.0))?,
        "Selu" if a.float("alpha", 1.673_263_2) == 1.673_263_2 => activation::selu(g, &name, x)?,
        "HardSwish" => activation::hardswish(g, &name, x)?,
        "HardSigmoid" if a.float("alpha", 0.2) == 0.2 => {
            // ONNX's default alpha 0.2 differs from PyTorch's 1/6: expressed as a clamp.
            let (alpha, beta) = (f("alpha", 0.2), f("beta", 0.5));
            let n = g.fresh_name(&format!("{name}_lin"));
            let m = g.add_op(
                &n,
                Op::Binary {
                    op: kiln_ir::BinaryOp::Mul,
                    a: kiln_ir::Operand::Value(x),
                    b: kiln_ir::Operand::Scalar(alpha),
                },
            )?;
            let n = g.fresh_name(&format!("{name}_shift"));
            let s = g.add_op(
                &n,
                Op::Binary {
                    op: kiln_ir::BinaryOp::Add,
                    a: kiln_ir::Operand::Value(m),
                    b: kiln_ir::Operand::Scalar(beta),
                },
            )?;
            activation::clamp(g, &name, s, Some(0.0), Some(1.0))?
        }
        "Softplus" => activation::softplus(g, &name, x, 1.0, f64::INFINITY)?,
        "Mish" => activation::mish(g, &name, x)?,
        _ => return Err(NodeError::Unsupported),
    };
    imp.bind_out(node, 0, id);
    Ok(())
}

fn clip_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let bound = |imp: &Importer, i: usize, key: &str| -> Result<Option<f64>, NodeError> {
        if imp.opset < 11 {
            return Ok(a.float_opt(key).map(f64::from));
        }
        match input(node, i) {
            None => Ok(None),
            Some(n) => imp
                .scalar_constant(n)
                .map(Some)
                .ok_or(NodeError::Unsupported),
        }
    };
    let (lo, hi) = (bound(imp, 1, "min")?, bound(imp, 2, "max")?);
    let name = imp.out_name(node, 0);
    let id = activation::clamp(&mut imp.g, &name, x, lo, hi)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `ConstantOfShape(shape)`: the `value` attribute (default float 0) broadcast to a shape
/// folded at import; never materialised (an expand of a one-element constant).
fn constant_of_shape(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let Some(Value::Ints(shape)) = input(node, 0).and_then(|n| imp.values.get(n)).cloned() else {
        return Err(NodeError::Unsupported);
    };
    let value = match a.tensor("value") {
        Some(t) => crate::tensor::tensor_from_proto(t, imp.dir)?,
        None => kiln_ir::Tensor::from_f32(&[1], &[0.0]),
    };
    let base = imp.out_name(node, 0);
    let scalar = kiln_ir::Tensor::from_f64(value.dtype, &[], &value.to_f64()[..1]);
    let n = imp.g.fresh_name(&format!("{base}_value"));
    let c = imp.g.add_constant(&n, scalar)?;
    let id = imp.g.add_op(&base, Op::Expand { x: c, shape })?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `Expand(x, shape)` with a shape folded at import.
fn expand_node(imp: &mut Importer, node: &NodeProto) -> R {
    let x = imp.arg_at(node, 0)?;
    let Some(Value::Ints(shape)) = input(node, 1).and_then(|n| imp.values.get(n)).cloned() else {
        return Err(NodeError::Unsupported);
    };
    // ONNX broadcasts both ways; where the target says 1, keep the input's size (-1).
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
    let name = imp.out_name(node, 0);
    let id = imp.g.add_op(&name, Op::Expand { x, shape })?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `onnx` axes/starts/ends from an input (opset >= 10) or an attribute.
fn ints_of(
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

fn slice_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
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

fn split_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
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

fn pad_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
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

fn prelu_node(imp: &mut Importer, node: &NodeProto) -> R {
    let (x, mut slope) = (imp.arg_at(node, 0)?, imp.arg_at(node, 1)?);
    let base = imp.out_name(node, 0);
    use kiln_ir::{BinaryOp, Operand};
    // Before opset 7 a 1-d slope is per channel (dim 1), not right-aligned.
    let rank = kiln_ir::value_info(&imp.g, x)?
        .rank
        .ok_or(NodeError::Unsupported)?;
    if imp.opset < 7 && kiln_ir::value_info(&imp.g, slope)?.rank == Some(1) && rank > 2 {
        for k in 0..rank - 2 {
            let n = imp.g.fresh_name(&format!("{base}_slope{k}"));
            slope = imp.g.add_op(&n, Op::Unsqueeze { x: slope, dim: -1 })?;
        }
    }
    let n = imp.g.fresh_name(&format!("{base}_neg"));
    let neg = imp.g.add_op(
        &n,
        Op::Binary {
            op: BinaryOp::Lt,
            a: Operand::Value(x),
            b: Operand::Scalar(0.0),
        },
    )?;
    let n = imp.g.fresh_name(&format!("{base}_scaled"));
    let scaled = imp.g.add_op(
        &n,
        Op::Binary {
            op: BinaryOp::Mul,
            a: Operand::Value(x),
            b: Operand::Value(slope),
        },
    )?;
    let id = imp.g.add_op(
        &base,
        Op::Where {
            cond: Operand::Value(neg),
            a: Operand::Value(scaled),
            b: Operand::Value(x),
        },
    )?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn conv_transpose_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let (x, w) = (imp.arg_at(node, 0)?, imp.arg_at(node, 1)?);
    let bias = imp.opt_arg(node, 2)?;
    if a.string("auto_pad").is_some_and(|p| p != "NOTSET") || a.ints("output_shape").is_some() {
        return Err(NodeError::Unsupported);
    }
    let pads = symmetric(&a.ints("pads").unwrap_or_default(), 2).ok_or(NodeError::Unsupported)?;
    let params = kiln_ir::ConvTransposeParams {
        stride: pair(a.ints("strides"), 1)?,
        padding: [pads[0], pads[1]],
        output_padding: pair(a.ints("output_padding"), 0)?,
        dilation: pair(a.ints("dilations"), 1)?,
        groups: a.int("group", 1),
    };
    let name = imp.out_name(node, 0);
    let id = conv::conv_transpose2d(&mut imp.g, &name, x, w, bias, params)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn tile_node(imp: &mut Importer, node: &NodeProto) -> R {
    let x = imp.arg_at(node, 0)?;
    let repeats = imp.ints_arg(node, 1)?.ok_or(NodeError::Unsupported)?;
    let name = imp.out_name(node, 0);
    let id = movement::repeat(&mut imp.g, &name, x, &repeats)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

fn log_softmax_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let rank = kiln_ir::value_info(&imp.g, x)?
        .rank
        .ok_or(NodeError::Unsupported)? as i64;
    let axis = a.int("axis", if imp.opset >= 13 { -1 } else { 1 });
    // Before opset 13 the op flattens from `axis`: the same only for the last dim.
    if imp.opset < 13 && axis != -1 && axis != rank - 1 {
        return Err(NodeError::Unsupported);
    }
    let name = imp.out_name(node, 0);
    let id = activation::log_softmax(&mut imp.g, &name, x, axis)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// The ops of this module, or `None` for an op type it does not handle.
pub(crate) fn import_model_op(imp: &mut Importer, node: &NodeProto, op: &str) -> Option<R> {
    let a = Attrs::new(node);
    Some(match op {
        "Conv" => conv_node(imp, node, &a),
        "MaxPool" => pool_node(imp, node, &a, true),
        "AveragePool" => pool_node(imp, node, &a, false),
        "Gemm" => gemm_node(imp, node, &a),
        "MatMul" => (|| {
            let (x, w) = (imp.arg_at(node, 0)?, imp.arg_at(node, 1)?);
            let name = imp.out_name(node, 0);
            let id = linalg::matmul(&mut imp.g, &name, x, w)?;
            imp.bind_out(node, 0, id);
            Ok(())
        })(),
        "BatchNormalization" => batch_norm_node(imp, node, &a),
        "Flatten" => flatten_node(imp, node, &a),
        "Reshape" => reshape_node(imp, node, &a),
        "Concat" => concat_node(imp, node, &a),
        "Clip" => clip_node(imp, node, &a),
        "ConstantOfShape" => constant_of_shape(imp, node, &a),
        "Slice" => slice_node(imp, node, &a),
        "Split" => split_node(imp, node, &a),
        "Pad" => pad_node(imp, node, &a),
        "PRelu" => prelu_node(imp, node),
        "ConvTranspose" => conv_transpose_node(imp, node, &a),
        "Tile" => tile_node(imp, node),
        "LogSoftmax" => log_softmax_node(imp, node, &a),
        "Expand" => expand_node(imp, node),
        "LeakyRelu" | "Elu" | "Selu" | "HardSwish" | "HardSigmoid" | "Softplus" | "Mish" => {
            activation_node(imp, node, &a, op)
        }
        _ => return None,
    })
}
