//! ONNX ops kiln has no primitive for, decomposed onto existing kiln ops: `Erf` (exported
//! exact GELU is `x * 0.5 * (1 + erf(x / sqrt 2))`), `LRN` (AlexNet, GoogLeNet) and
//! `InstanceNormalization` (group norm with one channel per group), and `LayerNormalization`.
use kiln_ir::build::{activation, grad, movement, norm};
use kiln_ir::{BinaryOp, NodeId, Op, Operand, Pool2d, UnaryOp};
use kiln_shape::Dim;

use super::ops::NodeError;
use super::{Attrs, Importer};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

/// Adds the intermediate nodes of one decomposition under fresh `{base}_{k}` names.
struct Build<'i, 'a> {
    imp: &'i mut Importer<'a>,
    base: String,
}

impl Build<'_, '_> {
    fn add(&mut self, op: Op) -> Result<NodeId, NodeError> {
        let name = self.imp.g.fresh_name(&format!("{}_part", self.base));
        Ok(self.imp.g.add_op(&name, op)?)
    }
    fn un(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, NodeError> {
        self.add(Op::Unary { op, x })
    }
    fn bin(&mut self, op: BinaryOp, a: NodeId, b: Operand) -> Result<NodeId, NodeError> {
        self.add(Op::Binary {
            op,
            a: Operand::Value(a),
            b,
        })
    }
}

/// Abramowitz and Stegun 7.1.26: `erf(|x|) = 1 - t (a1 + t (a2 + ...)) e^{-x^2}` with
/// `t = 1 / (1 + p |x|)`, absolute error below 1.5e-7 (under f32's resolution near 1); odd.
const ERF_P: f64 = 0.327_591_1;
const ERF_A: [f64; 5] = [
    0.254_829_592,
    -0.284_496_736,
    1.421_413_741,
    -1.453_152_027,
    1.061_405_429,
];

fn erf_node(imp: &mut Importer, node: &NodeProto) -> R {
    let x = imp.arg_at(node, 0)?;
    let out = imp.out_name(node, 0);
    let mut b = Build {
        imp,
        base: out.clone(),
    };
    let ax = b.un(UnaryOp::Abs, x)?;
    let px = b.bin(BinaryOp::Mul, ax, Operand::Scalar(ERF_P))?;
    let den = b.bin(BinaryOp::Add, px, Operand::Scalar(1.0))?;
    let t = b.un(UnaryOp::Reciprocal, den)?;
    // Horner: a5, then (acc * t + a_k) down to a1, then * t.
    let mut acc = b.bin(BinaryOp::Mul, t, Operand::Scalar(ERF_A[4]))?;
    for &a in ERF_A[..4].iter().rev() {
        let s = b.bin(BinaryOp::Add, acc, Operand::Scalar(a))?;
        acc = b.bin(BinaryOp::Mul, s, Operand::Value(t))?;
    }
    let x2 = b.bin(BinaryOp::Mul, x, Operand::Value(x))?;
    let nx2 = b.un(UnaryOp::Neg, x2)?;
    let e = b.un(UnaryOp::Exp, nx2)?;
    let tail = b.bin(BinaryOp::Mul, acc, Operand::Value(e))?;
    let neg_tail = b.un(UnaryOp::Neg, tail)?;
    let y = b.bin(BinaryOp::Add, neg_tail, Operand::Scalar(1.0))?;
    let neg_y = b.un(UnaryOp::Neg, y)?;
    let is_neg = b.bin(BinaryOp::Lt, x, Operand::Scalar(0.0))?;
    let id = b.imp.g.add_op(
        &out,
        Op::Where {
            cond: Operand::Value(is_neg),
            a: Operand::Value(neg_y),
            b: Operand::Value(y),
        },
    )?;
    b.imp.bind_out(node, 0, id);
    Ok(())
}

/// `LRN`: `x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta`,
/// the window padded by `floor((size-1)/2)` before and `ceil((size-1)/2)` after. The channel
/// sum is an average pool over `(N, 1, C, H*W)` times `size`.
fn lrn_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let rank = imp.symbolic_shape(x)?.len();
    let size = a.int("size", 0);
    if rank != 4 || size <= 0 {
        return Err(a
            .err(format!(
                "LRN needs a 4-d input and a positive size; found rank {rank}, size {size}"
            ))
            .into());
    }
    let (alpha, beta, bias) = (
        f64::from(a.float("alpha", 1e-4)),
        f64::from(a.float("beta", 0.75)),
        f64::from(a.float("bias", 1.0)),
    );
    let out = imp.out_name(node, 0);
    let mut b = Build {
        imp,
        base: out.clone(),
    };
    let sq = b.bin(BinaryOp::Mul, x, Operand::Value(x))?;
    let flat = b.add(Op::Flatten {
        x: sq,
        start_dim: 2,
        end_dim: 3,
    })?;
    let u = b.add(Op::Unsqueeze { x: flat, dim: 1 })?;
    // Pad the channel axis (dim 2 of 4; PyTorch's pad lists the last dim first).
    let (before, after) = ((size - 1) / 2, size / 2);
    let name = b.imp.g.fresh_name(&format!("{out}_pad"));
    let padded = movement::pad(
        &mut b.imp.g,
        &name,
        u,
        &[0, 0, before, after],
        kiln_ir::PadMode::Constant,
        Some(0.0),
    )?;
    let params = Pool2d {
        kernel_size: [size, 1],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    };
    let mean = b.add(Op::AvgPool2d { x: padded, params })?;
    let name = b.imp.g.fresh_name(&format!("{out}_sum"));
    let back = grad::reshape_as(&mut b.imp.g, &name, mean, x)?;
    // alpha / size * (size * mean) = alpha * mean.
    let scaled = b.bin(BinaryOp::Mul, back, Operand::Scalar(alpha))?;
    let shifted = b.bin(BinaryOp::Add, scaled, Operand::Scalar(bias))?;
    let den = b.bin(BinaryOp::Pow, shifted, Operand::Scalar(beta))?;
    let id = b.imp.g.add_op(
        &out,
        Op::Binary {
            op: BinaryOp::Div,
            a: Operand::Value(x),
            b: Operand::Value(den),
        },
    )?;
    b.imp.bind_out(node, 0, id);
    Ok(())
}

/// `InstanceNormalization(x, scale, B)`: per-sample, per-channel normalisation; kiln's
/// `group_norm` with one group per channel (C from `scale`'s shape).
fn instance_norm_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let (scale, bias) = (imp.arg_at(node, 1)?, imp.arg_at(node, 2)?);
    let c = match imp.symbolic_shape(scale)?.as_slice() {
        [c] => c.as_int(),
        _ => None,
    }
    .ok_or_else(|| a.err("scale must be a 1-d tensor of a constant size C"))?;
    let eps = f64::from(a.float("epsilon", 1e-5));
    let name = imp.out_name(node, 0);
    let id = norm::group_norm(&mut imp.g, &name, x, c, Some(scale), Some(bias), eps)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `LayerNormalization(X, Scale, B)` (opset 17): statistics over the dims from `axis` on,
/// kiln's `layer_norm` with those dims as `normalized_shape` (the Mean and InvStdDev outputs
/// of training are not produced).
fn layer_norm_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(NodeError::Unsupported);
    }
    let x = imp.arg_at(node, 0)?;
    let scale = imp.arg_at(node, 1)?;
    let bias = imp.opt_arg(node, 2)?;
    let shape = imp.symbolic_shape(x)?;
    let rank = shape.len() as i64;
    let axis = a.int("axis", -1);
    let axis = if axis < 0 { axis + rank } else { axis };
    let normalized = usize::try_from(axis)
        .ok()
        .and_then(|ax| shape.get(ax..))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| a.err(format!("axis {axis} is out of range for rank {rank}")))?
        .iter()
        .map(|d| super::shape_values::as_dim(d).filter(|d| matches!(d, Dim::Fixed(_))))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| a.err("the normalized dims must have constant sizes"))?;
    let eps = f64::from(a.float("epsilon", 1e-5));
    let name = imp.out_name(node, 0);
    let id = norm::layer_norm(&mut imp.g, &name, x, &normalized, Some(scale), bias, eps)?;
    imp.bind_out(node, 0, id);
    Ok(())
}

/// `Softmax`/`LogSoftmax` before opset 13: the input is viewed as 2-d, dims before `axis`
/// (default 1) as rows and the rest as one row of values: flattened from `axis`, normalised
/// over the last dim, and viewed back (`reshape_as` the input).
pub(super) fn legacy_softmax(imp: &mut Importer, node: &NodeProto, a: &Attrs, log: bool) -> R {
    let x = imp.arg_at(node, 0)?;
    let rank = imp.symbolic_shape(x)?.len() as i64;
    let axis = a.int("axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank.max(1)).contains(&axis) {
        return Err(a
            .err(format!("axis {axis} is out of range for rank {rank}"))
            .into());
    }
    let out = imp.out_name(node, 0);
    let mut b = Build {
        imp,
        base: out.clone(),
    };
    let rows = if axis == rank - 1 {
        x
    } else {
        let f = b.add(Op::Flatten {
            x,
            start_dim: axis,
            end_dim: -1,
        })?;
        if axis == 0 {
            b.add(Op::Unsqueeze { x: f, dim: 0 })?
        } else {
            f
        }
    };
    let id = if rows == x {
        if log {
            activation::log_softmax(&mut b.imp.g, &out, x, -1)?
        } else {
            b.imp.g.add_op(&out, Op::Softmax { x, dim: -1 })?
        }
    } else {
        let name = b.imp.g.fresh_name(&format!("{out}_rows"));
        let y = if log {
            activation::log_softmax(&mut b.imp.g, &name, rows, -1)?
        } else {
            b.imp.g.add_op(&name, Op::Softmax { x: rows, dim: -1 })?
        };
        grad::reshape_as(&mut b.imp.g, &out, y, x)?
    };
    b.imp.bind_out(node, 0, id);
    Ok(())
}

/// A pool whose ONNX pads differ before and after (`[0, 0, 1, 1]` in Caffe-converted
/// models): the input is padded explicitly (with -inf for max) and pooled without padding.
/// An average that excludes the padding (`count_include_pad=0`) divides the pooled sums of
/// the padded input by those of padded ones (the count of real elements per window).
pub(super) fn asymmetric_pool(
    imp: &mut Importer,
    node: &NodeProto,
    x: NodeId,
    onnx_pads: &[i64],
    params: Pool2d,
    is_max: bool,
) -> R {
    // ONNX [h_begin, w_begin, h_end, w_end]; PyTorch's pad: last dim first.
    let torch_pads = [onnx_pads[1], onnx_pads[3], onnx_pads[0], onnx_pads[2]];
    let out = imp.out_name(node, 0);
    let mut b = Build {
        imp,
        base: out.clone(),
    };
    let fill = if is_max { f64::NEG_INFINITY } else { 0.0 };
    let pad = |b: &mut Build, v: NodeId| -> Result<NodeId, NodeError> {
        let name = b.imp.g.fresh_name(&format!("{out}_pad"));
        let mode = kiln_ir::PadMode::Constant;
        Ok(movement::pad(
            &mut b.imp.g,
            &name,
            v,
            &torch_pads,
            mode,
            Some(fill),
        )?)
    };
    let px = pad(&mut b, x)?;
    let id = if is_max {
        b.imp.g.add_op(&out, Op::MaxPool2d { x: px, params })?
    } else if params.count_include_pad {
        b.imp.g.add_op(&out, Op::AvgPool2d { x: px, params })?
    } else {
        let sum = b.add(Op::AvgPool2d { x: px, params })?;
        let name = b.imp.g.fresh_name(&format!("{out}_one"));
        let one = b
            .imp
            .g
            .add_constant(&name, kiln_ir::Tensor::from_f32(&[], &[1.0]))?;
        let name = b.imp.g.fresh_name(&format!("{out}_ones"));
        let ones = grad::expand_as(&mut b.imp.g, &name, one, x)?;
        let pones = pad(&mut b, ones)?;
        let count = b.add(Op::AvgPool2d { x: pones, params })?;
        b.imp.g.add_op(
            &out,
            Op::Binary {
                op: BinaryOp::Div,
                a: Operand::Value(sum),
                b: Operand::Value(count),
            },
        )?
    };
    b.imp.bind_out(node, 0, id);
    Ok(())
}

/// The ops of this module, or `None` for an op type it does not handle.
pub(crate) fn import_math_op(imp: &mut Importer, node: &NodeProto, op: &str) -> Option<R> {
    let a = Attrs::new(node);
    Some(match op {
        "Erf" => erf_node(imp, node),
        "LRN" => lrn_node(imp, node, &a),
        "LayerNormalization" => layer_norm_node(imp, node, &a),
        "InstanceNormalization" => instance_norm_node(imp, node, &a),
        _ => return None,
    })
}
