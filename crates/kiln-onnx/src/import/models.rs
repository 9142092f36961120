//! The ONNX ops of real models: convolution, GEMM, normalisation, pooling, activations and
//! the data movement of exported graphs, mapped onto kiln's builders (`kiln_ir::build`), so
//! they decompose exactly as the text format's and the torch backend's ops do.
use kiln_ir::build::{activation, conv, linalg, norm};
use kiln_ir::{NodeId, Op, Pool2d};

use super::ops::{NodeError, input};
use super::{Attrs, Importer, Value, layout};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

impl Importer<'_> {
    /// The kiln name for output `k` of `node`, and records it.
    pub(super) fn out_name(&self, node: &NodeProto, k: usize) -> String {
        self.name_for(node.output.get(k).map(String::as_str).unwrap_or("out"))
    }
    pub(super) fn bind_out(&mut self, node: &NodeProto, k: usize, id: NodeId) {
        let onnx = node.output.get(k).cloned().unwrap_or_default();
        self.values.insert(onnx, Value::Node(id));
    }
    pub(super) fn opt_arg(&self, node: &NodeProto, i: usize) -> Result<Option<NodeId>, NodeError> {
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
    let onnx_pads = a.ints("pads").unwrap_or_default();
    let (pads, asymmetric) = match symmetric(&onnx_pads, 2) {
        Some(p) => (p, false),
        None if onnx_pads.len() == 4 => (vec![0, 0], true),
        None => return Err(NodeError::Unsupported),
    };
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
    if asymmetric {
        return super::math::asymmetric_pool(imp, node, x, &onnx_pads, params, is_max);
    }
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

fn log_softmax_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    if imp.opset < 13 {
        return super::math::legacy_softmax(imp, node, a, true);
    }
    let x = imp.arg_at(node, 0)?;
    let name = imp.out_name(node, 0);
    let id = activation::log_softmax(&mut imp.g, &name, x, a.int("axis", -1))?;
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
        "Flatten" => layout::flatten_node(imp, node, &a),
        "Reshape" => layout::reshape_node(imp, node, &a),
        "Concat" => layout::concat_node(imp, node, &a),
        "Clip" => clip_node(imp, node, &a),
        "ConstantOfShape" => layout::constant_of_shape(imp, node, &a),
        "Slice" => layout::slice_node(imp, node, &a),
        "Split" => layout::split_node(imp, node, &a),
        "Pad" => layout::pad_node(imp, node, &a),
        "PRelu" => prelu_node(imp, node),
        "ConvTranspose" => conv_transpose_node(imp, node, &a),
        "Tile" => layout::tile_node(imp, node),
        "LogSoftmax" => log_softmax_node(imp, node, &a),
        "Expand" => layout::expand_node(imp, node),
        "Gather" | "GatherElements" | "ScatterElements" => super::gather::import(imp, node, op),
        "LeakyRelu" | "Elu" | "Selu" | "HardSwish" | "HardSigmoid" | "Softplus" | "Mish" => {
            activation_node(imp, node, &a, op)
        }
        _ => return super::math::import_math_op(imp, node, op),
    })
}
