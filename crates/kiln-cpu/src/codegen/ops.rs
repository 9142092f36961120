//! Scalar operations on compute values: `F32`/`F64` scalars or `F32X4`/`F64X2` vectors.
//!
//! Every op here is lane-generic, so the scalar loop and the vector loop share one emitter.
//! Bools are 0.0/1.0 in the compute type; comparisons produce 1.0/0.0, logical ops treat any
//! nonzero value (NaN included) as true, as PyTorch does.
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::{BinaryOp, DType, UnaryOp};

use super::error::CodegenError;
use super::mathops;

/// Whether a value is one element or a 128-bit vector of them (4 f32 or 2 f64 lanes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Width {
    Scalar,
    Vector,
}

/// The CLIF type of `dtype`'s compute type at `width`.
pub(crate) fn compute_type(dtype: DType, width: Width) -> Type {
    match (dtype.compute() == DType::F64, width) {
        (false, Width::Scalar) => types::F32,
        (true, Width::Scalar) => types::F64,
        (false, Width::Vector) => types::F32X4,
        (true, Width::Vector) => types::F64X2,
    }
}

pub(crate) fn ty_of(b: &FunctionBuilder, v: Value) -> Type {
    b.func.dfg.value_type(v)
}

/// A constant of float type `ty` (splatted for vectors).
pub(crate) fn fconst(b: &mut FunctionBuilder, ty: Type, v: f64) -> Value {
    let scalar = if ty.lane_type() == types::F64 {
        b.ins().f64const(v)
    } else {
        b.ins().f32const(v as f32)
    };
    if ty.is_vector() {
        b.ins().splat(ty, scalar)
    } else {
        scalar
    }
}

/// Bit cast with the little-endian flag vector bitcasts need.
pub(crate) fn bitcast(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    if ty_of(b, x) == ty {
        return x;
    }
    let flags = if ty.is_vector() || ty_of(b, x).is_vector() {
        MemFlagsData::new().with_endianness(Endianness::Little)
    } else {
        MemFlagsData::new()
    };
    b.ins().bitcast(ty, flags, x)
}

/// `mask ? a : c` lane-wise; `mask` from `fcmp` (i8 for scalars, an integer vector otherwise).
pub(crate) fn select(b: &mut FunctionBuilder, mask: Value, a: Value, c: Value) -> Value {
    let ty = ty_of(b, a);
    if ty.is_vector() {
        let mask = bitcast(b, ty, mask);
        b.ins().bitselect(mask, a, c)
    } else {
        b.ins().select(mask, a, c)
    }
}

/// 1.0 where `mask` holds, else 0.0, in float type `ty`.
pub(crate) fn mask_to_float(b: &mut FunctionBuilder, ty: Type, mask: Value) -> Value {
    let one = fconst(b, ty, 1.0);
    let zero = fconst(b, ty, 0.0);
    select(b, mask, one, zero)
}

/// `to(x, torch.int64)` on f64 lanes, still as f64: truncation toward zero; NaN, infinities
/// and values outside `[-2^63, 2^63)` become -2^63, as x86's `cvttsd2si` (which torch's
/// conversion compiles to) returns for them; `kiln_ir::trunc_i64` is the reference.
pub(crate) fn trunc_i64_torch(b: &mut FunctionBuilder, v: Value) -> Value {
    let ty = ty_of(b, v);
    let limit = 9_223_372_036_854_775_808.0;
    let t = b.ins().trunc(v);
    let lo = fconst(b, ty, -limit);
    let hi = fconst(b, ty, limit);
    let ge = b.ins().fcmp(FloatCC::GreaterThanOrEqual, v, lo);
    let lt = b.ins().fcmp(FloatCC::LessThan, v, hi);
    let in_range = b.ins().band(ge, lt);
    select(b, in_range, t, lo)
}

/// A scalar f64 as the int64 torch stores ([`trunc_i64_torch`], then an exact conversion).
pub(crate) fn f64_to_i64_torch(b: &mut FunctionBuilder, v: Value) -> Value {
    let t = trunc_i64_torch(b, v);
    b.ins().fcvt_to_sint_sat(types::I64, t)
}

/// The mask of lanes that are true (nonzero; NaN is nonzero).
pub(crate) fn truthy(b: &mut FunctionBuilder, x: Value) -> Value {
    let zero = fconst(b, ty_of(b, x), 0.0);
    b.ins().fcmp(FloatCC::NotEqual, x, zero)
}

/// `op(x)`. `bool_out`: the result is a bool, so it is normalised to 0.0/1.0.
pub(crate) fn unary(
    b: &mut FunctionBuilder,
    op: UnaryOp,
    x: Value,
    out_ty: Type,
    bool_out: bool,
) -> Result<Value, CodegenError> {
    let ty = ty_of(b, x);
    let v = match op {
        UnaryOp::Neg => b.ins().fneg(x),
        UnaryOp::Abs => b.ins().fabs(x),
        UnaryOp::Exp => mathops::exp(b, x)?,
        UnaryOp::Log => mathops::log(b, x)?,
        UnaryOp::Sqrt => b.ins().sqrt(x),
        UnaryOp::Rsqrt => {
            let s = b.ins().sqrt(x);
            let one = fconst(b, ty, 1.0);
            b.ins().fdiv(one, s)
        }
        UnaryOp::Reciprocal => {
            let one = fconst(b, ty, 1.0);
            b.ins().fdiv(one, x)
        }
        UnaryOp::Sin => mathops::sin(b, x)?,
        UnaryOp::Cos => mathops::cos(b, x)?,
        UnaryOp::Tanh => mathops::tanh(b, x)?,
        UnaryOp::Sigmoid => mathops::sigmoid(b, x)?,
        // clamp_min(x, 0) as PyTorch's vectorised CPU kernel computes it, `x < 0 ? 0 : x`:
        // NaN compares false and propagates, -0.0 stays -0.0 (equal to 0). One `maxps`.
        UnaryOp::Relu => {
            let zero = fconst(b, ty, 0.0);
            max_with_non_nan(b, x, zero)
        }
        UnaryOp::Silu => {
            let s = mathops::sigmoid(b, x)?;
            b.ins().fmul(x, s)
        }
        UnaryOp::Gelu => {
            let k = fconst(b, ty, std::f64::consts::FRAC_1_SQRT_2);
            let t = b.ins().fmul(x, k);
            let e = mathops::erf(b, t)?;
            let one = fconst(b, ty, 1.0);
            let half = fconst(b, ty, 0.5);
            let s = b.ins().fadd(one, e);
            let hx = b.ins().fmul(x, half);
            b.ins().fmul(hx, s)
        }
        UnaryOp::GeluTanh => {
            let c = fconst(b, ty, std::f64::consts::FRAC_2_PI.sqrt());
            let k = fconst(b, ty, 0.044715);
            let x2 = b.ins().fmul(x, x);
            let x3 = b.ins().fmul(x2, x);
            let kx3 = b.ins().fmul(k, x3);
            let inner = b.ins().fadd(x, kx3);
            let inner = b.ins().fmul(c, inner);
            let t = mathops::tanh(b, inner)?;
            let one = fconst(b, ty, 1.0);
            let half = fconst(b, ty, 0.5);
            let s = b.ins().fadd(one, t);
            let hx = b.ins().fmul(x, half);
            b.ins().fmul(hx, s)
        }
        UnaryOp::Floor => b.ins().floor(x),
        UnaryOp::Ceil => b.ins().ceil(x),
        UnaryOp::LogicalNot => {
            let zero = fconst(b, ty, 0.0);
            let m = b.ins().fcmp(FloatCC::Equal, x, zero);
            return Ok(mask_to_float(b, out_ty, m));
        }
    };
    let v = convert(b, v, out_ty);
    Ok(if bool_out {
        let m = truthy(b, v);
        mask_to_float(b, out_ty, m)
    } else {
        v
    })
}

/// `x < c ? c : x`: maximum with a non-NaN `c` (a constant) that propagates a NaN `x`;
/// a single `maxps`/`maxss` on x86 where `fmax` needs a NaN-propagating sequence.
pub(crate) fn max_with_non_nan(b: &mut FunctionBuilder, x: Value, c: Value) -> Value {
    let m = b.ins().fcmp(FloatCC::LessThan, x, c);
    select(b, m, c, x)
}

/// `c < x ? c : x`: minimum with a non-NaN `c` that propagates a NaN `x` (one `minps`).
pub(crate) fn min_with_non_nan(b: &mut FunctionBuilder, x: Value, c: Value) -> Value {
    let m = b.ins().fcmp(FloatCC::LessThan, c, x);
    select(b, m, c, x)
}

/// `maximum`/`minimum` of `value` and a non-NaN `constant` (either operand order: both ops
/// are commutative up to the sign of zero): only `value` can be NaN, so one compare+select
/// does. `None` for other ops.
pub(crate) fn extremum_with_constant(
    b: &mut FunctionBuilder,
    op: BinaryOp,
    value: Value,
    constant: Value,
) -> Option<Value> {
    match op {
        BinaryOp::Maximum => Some(max_with_non_nan(b, value, constant)),
        BinaryOp::Minimum => Some(min_with_non_nan(b, value, constant)),
        _ => None,
    }
}

/// `x op y`; the operands share a type, the result has `out_ty` (comparisons of f64 operands
/// give an f32 bool).
pub(crate) fn binary(
    b: &mut FunctionBuilder,
    op: BinaryOp,
    x: Value,
    y: Value,
    out_ty: Type,
) -> Result<Value, CodegenError> {
    let cmp = |b: &mut FunctionBuilder, cc: FloatCC| {
        let m = b.ins().fcmp(cc, x, y);
        mask_to_float(b, out_ty, m)
    };
    if let Some(cc) = comparison_cc(op) {
        return Ok(cmp(b, cc));
    }
    let v = match op {
        BinaryOp::Add => b.ins().fadd(x, y),
        BinaryOp::Sub => b.ins().fsub(x, y),
        BinaryOp::Mul => b.ins().fmul(x, y),
        BinaryOp::Div => b.ins().fdiv(x, y),
        BinaryOp::Maximum => b.ins().fmax(x, y),
        BinaryOp::Minimum => b.ins().fmin(x, y),
        BinaryOp::Pow => mathops::pow(b, x, y)?,
        // LogicalAnd or LogicalOr (the comparisons returned above).
        _ => {
            let (mx, my) = (truthy(b, x), truthy(b, y));
            let m = if op == BinaryOp::LogicalAnd {
                b.ins().band(mx, my)
            } else {
                b.ins().bor(mx, my)
            };
            return Ok(mask_to_float(b, out_ty, m));
        }
    };
    Ok(convert(b, v, out_ty))
}

/// The float condition a comparison op tests, `None` for other ops. `!=` holds for NaN
/// (unordered or not equal), as in Rust and PyTorch; the others are ordered.
pub(crate) fn comparison_cc(op: BinaryOp) -> Option<FloatCC> {
    Some(match op {
        BinaryOp::Eq => FloatCC::Equal,
        BinaryOp::Ne => FloatCC::NotEqual,
        BinaryOp::Lt => FloatCC::LessThan,
        BinaryOp::Le => FloatCC::LessThanOrEqual,
        BinaryOp::Gt => FloatCC::GreaterThan,
        BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
        _ => return None,
    })
}

/// Converts between the f32 and f64 compute types (no rounding to a storage dtype).
pub(crate) fn convert(b: &mut FunctionBuilder, v: Value, to: Type) -> Value {
    let from = ty_of(b, v);
    if from == to {
        v
    } else if to.lane_type() == types::F64 {
        if to.is_vector() {
            b.ins().fvpromote_low(v)
        } else {
            b.ins().fpromote(to, v)
        }
    } else if to.is_vector() {
        b.ins().fvdemote(v)
    } else {
        b.ins().fdemote(to, v)
    }
}

/// `Cast` to `to`: convert the compute type, then round to `to`'s precision where it narrows.
pub(crate) fn cast(
    b: &mut FunctionBuilder,
    v: Value,
    to: DType,
    out_ty: Type,
) -> Result<Value, CodegenError> {
    let v = convert(b, v, out_ty);
    Ok(match to {
        DType::Bool => {
            let m = truthy(b, v);
            mask_to_float(b, out_ty, m)
        }
        DType::F16 => {
            let bits = mathops::f32_to_f16_bits(b, v)?;
            mathops::f16_bits_to_f32(b, bits)?
        }
        DType::BF16 => {
            let bits = mathops::f32_to_bf16_bits(b, v)?;
            mathops::bf16_bits_to_f32(b, bits)?
        }
        DType::F32 | DType::F64 => v,
        DType::I64 => trunc_i64_torch(b, v),
    })
}

/// `t ± d` (or `d ± t`) where `t = x * m` with `m` a power of two of at least 1 and `d` a
/// constant of at most 2^64, as one `fma(x, ±m, ±d)` on hosts with FMA: `x * m` is exact
/// (or overflows, and then `x*m ± d` still rounds to the same infinity), so the fused result
/// is bit-identical to the rounded multiply and add the graph asks for. `None` when the
/// pattern does not apply. (`x*2 - 1` after a sigmoid: one instruction and one latency step
/// fewer at the end of the chain.)
pub(crate) fn exact_mul_add(
    b: &mut FunctionBuilder,
    instrs: &[kiln_sched::Instr],
    vals: &[Option<Value>],
    op: BinaryOp,
    (a_id, c_id): (u32, u32),
    result: Type,
) -> Option<Value> {
    use kiln_sched::ScalarOp;
    if !crate::math::host_has_fma() || !matches!(op, BinaryOp::Add | BinaryOp::Sub) {
        return None;
    }
    let constant = |id: u32| match instrs.get(id as usize)?.op {
        ScalarOp::Const(v) if v.is_finite() => Some(v),
        _ => None,
    };
    let scaled = |id: u32| -> Option<(u32, f64)> {
        let ScalarOp::Binary(BinaryOp::Mul, p, q) = instrs.get(id as usize)?.op else {
            return None;
        };
        let power_of_two = |m: f64| m >= 1.0 && m.is_finite() && m.to_bits() & ((1 << 52) - 1) == 0;
        match (constant(p), constant(q)) {
            (_, Some(m)) if power_of_two(m) => Some((p, m)),
            (Some(m), _) if power_of_two(m) => Some((q, m)),
            _ => None,
        }
    };
    let small = |d: f64| d.abs() <= 2f64.powi(64);
    // (x, m, d) with the result x*m + d.
    let (x, m, d) = match (scaled(a_id), constant(c_id), constant(a_id), scaled(c_id)) {
        (Some((x, m)), Some(d), _, _) => (x, m, if op == BinaryOp::Sub { -d } else { d }),
        (_, _, Some(d), Some((x, m))) => (x, if op == BinaryOp::Sub { -m } else { m }, d),
        _ => return None,
    };
    if !small(d) {
        return None;
    }
    let x = (*vals.get(x as usize)?)?;
    let ty = ty_of(b, x);
    if ty != result || (ty.lane_type() != types::F32 && ty.lane_type() != types::F64) {
        return None;
    }
    let m = fconst(b, ty, m);
    let d = fconst(b, ty, d);
    Some(b.ins().fma(x, m, d))
}
