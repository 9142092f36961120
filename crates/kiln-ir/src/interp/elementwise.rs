//! Elementwise ops: unary math, binary arithmetic and comparisons, `where`; with broadcasting.
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_PI};

use super::erf::erf;
use super::{Value, broadcast_offsets};
use crate::dtype::DType;
use crate::infer::check::{binary_result_dtype, common_dtype};
use crate::op::{BinaryOp, Operand, UnaryOp};
use crate::tensor::round_to;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn truthy(x: f64) -> bool {
    // NaN is nonzero, hence true, as in PyTorch.
    x != 0.0
}

/// One unary op on one element, in f64.
pub(crate) fn unary_scalar(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Reciprocal => 1.0 / x,
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => sigmoid(x),
        // clamp_min(x, 0): NaN propagates.
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Gelu => 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2)),
        UnaryOp::GeluTanh => {
            let inner = FRAC_2_PI.sqrt() * (x + 0.044715 * x * x * x);
            0.5 * x * (1.0 + inner.tanh())
        }
        UnaryOp::Floor => x.floor(),
        UnaryOp::Ceil => x.ceil(),
        UnaryOp::LogicalNot => f64::from(u8::from(!truthy(x))),
    }
}

/// PyTorch's `maximum`/`minimum`: NaN in either operand gives NaN.
fn nan_or(a: f64, b: f64, pick: fn(f64, f64) -> f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        pick(a, b)
    }
}

/// One binary op on one pair of elements, in f64.
pub(crate) fn binary_scalar(op: BinaryOp, a: f64, b: f64) -> f64 {
    let bool_val = |c: bool| f64::from(u8::from(c));
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Maximum => nan_or(a, b, f64::max),
        BinaryOp::Minimum => nan_or(a, b, f64::min),
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Eq => bool_val(a == b),
        BinaryOp::Ne => bool_val(a != b),
        BinaryOp::Lt => bool_val(a < b),
        BinaryOp::Le => bool_val(a <= b),
        BinaryOp::Gt => bool_val(a > b),
        BinaryOp::Ge => bool_val(a >= b),
        BinaryOp::LogicalAnd => bool_val(truthy(a) && truthy(b)),
        BinaryOp::LogicalOr => bool_val(truthy(a) || truthy(b)),
    }
}

pub(crate) fn unary(op: UnaryOp, x: &Value, dtype: DType) -> Value {
    let data = x.data.iter().map(|&v| unary_scalar(op, v)).collect();
    Value::rounded(dtype, x.shape.clone(), data)
}

/// A tensor operand's value, or a scalar as a 0-d value.
fn operand_value<'a>(
    o: &Operand,
    values: &'a [Value],
    scalar_dtype: DType,
) -> Result<std::borrow::Cow<'a, Value>, String> {
    match o {
        Operand::Value(id) => values
            .get(id.index())
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| format!("operand #{} is not defined", id.index())),
        Operand::Scalar(s) => Ok(std::borrow::Cow::Owned(Value {
            dtype: scalar_dtype,
            shape: Vec::new(),
            data: vec![round_to(scalar_dtype, *s)],
        })),
    }
}

fn tensor_infos(operands: &[&Operand], values: &[Value]) -> Vec<crate::infer::check::ValueInfo> {
    operands
        .iter()
        .filter_map(|o| match o {
            Operand::Value(id) => values.get(id.index()),
            Operand::Scalar(_) => None,
        })
        .map(|v| crate::infer::check::ValueInfo {
            dtype: v.dtype,
            rank: Some(v.shape.len()),
        })
        .collect()
}

/// `a op b` with broadcasting. A scalar operand is first converted to the type PyTorch
/// computes with: the compute type (f32, or f64 for f64) for arithmetic, which is what its
/// kernels read a Python scalar as, and the operands' common dtype for comparisons, which
/// cast the scalar to it.
pub(crate) fn binary(
    op: BinaryOp,
    a: &Operand,
    b: &Operand,
    values: &[Value],
    dtype: DType,
    shape: &[usize],
) -> Result<Value, String> {
    let tensors = tensor_infos(&[a, b], values);
    let common = common_dtype(&tensors, tensors.len() < 2);
    debug_assert_eq!(binary_result_dtype(op, common), dtype);
    let scalar_dtype = if op.is_comparison() {
        common
    } else {
        common.compute()
    };
    // Tensor operands are cast to the common dtype first, which only rounds a 0-d tensor of a
    // wider dtype (`f16[3] + f32[]` adds f16(1.3)).
    let (va, vb) = (
        operand_value(a, values, scalar_dtype)?,
        operand_value(b, values, scalar_dtype)?,
    );
    // `true_divide` of integers divides them as the float result dtype (f32), as torch does.
    let (va, vb) = if op == BinaryOp::Div && common.is_int() {
        (as_dtype(&va, dtype), as_dtype(&vb, dtype))
    } else {
        (in_dtype(va, common), in_dtype(vb, common))
    };
    let (ia, ib) = (
        broadcast_offsets(&va.shape, shape),
        broadcast_offsets(&vb.shape, shape),
    );
    let data = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| binary_scalar(op, va.data[i], vb.data[j]))
        .collect();
    Ok(Value::rounded(dtype, shape.to_vec(), data))
}

/// `v` rounded to `dtype` when it is a tensor of a wider one (scalars keep their precision).
fn in_dtype(v: std::borrow::Cow<'_, Value>, dtype: DType) -> std::borrow::Cow<'_, Value> {
    let wider = v.dtype.is_float() && v.dtype != dtype && DType::promote(v.dtype, dtype) == v.dtype;
    if !wider || !dtype.is_float() {
        return v;
    }
    std::borrow::Cow::Owned(Value::rounded(dtype, v.shape.clone(), v.data.clone()))
}

/// `v` rounded to `dtype`.
fn as_dtype<'a>(v: &Value, dtype: DType) -> std::borrow::Cow<'a, Value> {
    std::borrow::Cow::Owned(Value::rounded(dtype, v.shape.clone(), v.data.clone()))
}

/// `where(cond, a, b)` with broadcasting; scalars take the result's dtype.
pub(crate) fn select(
    cond: &Operand,
    a: &Operand,
    b: &Operand,
    values: &[Value],
    dtype: DType,
    shape: &[usize],
) -> Result<Value, String> {
    let vc = operand_value(cond, values, DType::Bool)?;
    let va = in_dtype(operand_value(a, values, dtype)?, dtype);
    let vb = in_dtype(operand_value(b, values, dtype)?, dtype);
    let (ic, ia, ib) = (
        broadcast_offsets(&vc.shape, shape),
        broadcast_offsets(&va.shape, shape),
        broadcast_offsets(&vb.shape, shape),
    );
    let data = (0..ic.len())
        .map(|k| {
            if truthy(vc.data[ic[k]]) {
                va.data[ia[k]]
            } else {
                vb.data[ib[k]]
            }
        })
        .collect();
    Ok(Value::rounded(dtype, shape.to_vec(), data))
}
