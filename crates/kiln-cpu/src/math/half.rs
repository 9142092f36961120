//! bf16 and IEEE f16 <-> f32 conversions by integer bit manipulation.
//!
//! 16-bit patterns travel in 32-bit integer lanes (low half, upper half zero on output), so
//! one scalar (`I32`, or `I16` on input) and four lanes (`I32X4`) share one code path. To
//! move four halves between memory and an `I32X4`, use `uload16x4` to load and
//! `snarrow`/`unarrow` to I16X8 (low 8 bytes) to store.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::MathError;
use super::lanes::{Lanes, select};

/// f32 lane shape for 16-bit patterns held in integer value `bits` (I16, I32 or I32X4).
fn widen_bits(
    b: &mut FunctionBuilder,
    bits: Value,
    function: &'static str,
) -> Result<(Lanes, Value), MathError> {
    let ty = b.func.dfg.value_type(bits);
    match ty {
        types::I16 => Ok((Lanes::F32, b.ins().uextend(types::I32, bits))),
        types::I32 => Ok((Lanes::F32, bits)),
        types::I32X4 => Ok((Lanes::F32X4, bits)),
        _ => Err(MathError::UnsupportedType {
            function,
            ty,
            expected: "I16, I32 or I32X4",
        }),
    }
}

fn f32_lanes(b: &FunctionBuilder, x: Value, function: &'static str) -> Result<Lanes, MathError> {
    let ty = b.func.dfg.value_type(x);
    match ty {
        types::F32 => Ok(Lanes::F32),
        types::F32X4 => Ok(Lanes::F32X4),
        _ => Err(MathError::UnsupportedType {
            function,
            ty,
            expected: "F32 or F32X4",
        }),
    }
}

pub(crate) fn bf16_to_f32(b: &mut FunctionBuilder, bits: Value) -> Result<Value, MathError> {
    let (l, bits) = widen_bits(b, bits, "bf16_bits_to_f32")?;
    let shifted = b.ins().ishl_imm_u(bits, 16);
    Ok(l.bits_to_float(b, shifted))
}

pub(crate) fn f32_to_bf16(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = f32_lanes(b, x, "f32_to_bf16_bits")?;
    let u = l.float_to_bits(b, x);
    let high = b.ins().ushr_imm_u(u, 16);
    // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate.
    let one = l.iconst(b, 1);
    let lsb = b.ins().band(high, one);
    let half_minus_one = l.iconst(b, 0x7fff);
    let rounded = b.ins().iadd(u, half_minus_one);
    let rounded = b.ins().iadd(rounded, lsb);
    let rounded = b.ins().ushr_imm_u(rounded, 16);
    // NaN keeps its sign and top payload bits and is made quiet so it cannot round to inf.
    let quiet_bit = l.iconst(b, 0x40);
    let quiet = b.ins().bor(high, quiet_bit);
    let is_nan = l.fcmp(b, FloatCC::Unordered, x, x);
    Ok(select(b, is_nan, quiet, rounded))
}

pub(crate) fn f16_to_f32(b: &mut FunctionBuilder, bits: Value) -> Result<Value, MathError> {
    let (l, h) = widen_bits(b, bits, "f16_bits_to_f32")?;
    let magnitude_mask = l.iconst(b, 0x7fff);
    let magnitude = b.ins().band(h, magnitude_mask);
    let o = b.ins().ishl_imm_u(magnitude, 13);
    let exp_mask = l.iconst(b, 0x7c00 << 13);
    let exponent = b.ins().band(o, exp_mask);
    // Rebias the exponent from 15 to 127.
    let rebias = l.iconst(b, (127 - 15) << 23);
    let normal = b.ins().iadd(o, rebias);
    // Inf/NaN: push the exponent field to all ones.
    let to_max_exp = l.iconst(b, (128 - 16) << 23);
    let inf_nan = b.ins().iadd(normal, to_max_exp);
    // Zero/subnormal: add the implicit bit and subtract it back as a float, renormalising.
    let implicit = l.iconst(b, 1 << 23);
    let with_implicit = b.ins().iadd(normal, implicit);
    let as_float = l.bits_to_float(b, with_implicit);
    let magic = l.fconst(b, f64::from(f32::from_bits(113 << 23)));
    let renormalised = b.ins().fsub(as_float, magic);
    let subnormal = l.float_to_bits(b, renormalised);

    let is_inf_nan = b.ins().icmp(IntCC::Equal, exponent, exp_mask);
    let zero = l.iconst(b, 0);
    let is_subnormal = b.ins().icmp(IntCC::Equal, exponent, zero);
    let o = select(b, is_inf_nan, inf_nan, normal);
    let o = select(b, is_subnormal, subnormal, o);
    let sign_mask = l.iconst(b, 0x8000);
    let sign = b.ins().band(h, sign_mask);
    let sign = b.ins().ishl_imm_u(sign, 16);
    let merged = b.ins().bor(o, sign);
    Ok(l.bits_to_float(b, merged))
}

pub(crate) fn f32_to_f16(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = f32_lanes(b, x, "f32_to_f16_bits")?;
    let bits = l.float_to_bits(b, x);
    let sign_mask = l.iconst(b, l.sign_bit());
    let sign = b.ins().band(bits, sign_mask);
    let u = b.ins().bxor(bits, sign);

    // Overflow (>= 65520 after rounding) to inf; NaN to a quiet NaN.
    let f32_inf = l.iconst(b, 255 << 23);
    let is_nan = b.ins().icmp(IntCC::SignedGreaterThan, u, f32_inf);
    let qnan = l.iconst(b, 0x7e00);
    let inf = l.iconst(b, 0x7c00);
    let overflow = select(b, is_nan, qnan, inf);

    // Subnormal results: adding 0.5 aligns the mantissa so the FPU rounds to nearest even.
    let denorm_magic_bits = ((127 - 15) + (23 - 10) + 1) << 23;
    let denorm_magic = l.fconst(b, f64::from(f32::from_bits(denorm_magic_bits)));
    let u_float = l.bits_to_float(b, u);
    let aligned = b.ins().fadd(u_float, denorm_magic);
    let aligned_bits = l.float_to_bits(b, aligned);
    let magic_bits = l.iconst(b, i64::from(denorm_magic_bits));
    let subnormal = b.ins().isub(aligned_bits, magic_bits);

    // Normal results: rebias and round to nearest even on the 13 dropped bits.
    let mant_odd = b.ins().ushr_imm_u(u, 13);
    let one = l.iconst(b, 1);
    let mant_odd = b.ins().band(mant_odd, one);
    let rebias = l.iconst(b, ((15 - 127) << 23) + 0xfff);
    let normal = b.ins().iadd(u, rebias);
    let normal = b.ins().iadd(normal, mant_odd);
    let normal = b.ins().ushr_imm_u(normal, 13);

    let f16_max = l.iconst(b, (127 + 16) << 23);
    let is_overflow = b.ins().icmp(IntCC::SignedGreaterThanOrEqual, u, f16_max);
    let min_normal = l.iconst(b, 113 << 23);
    let is_subnormal = b.ins().icmp(IntCC::SignedLessThan, u, min_normal);
    let o = select(b, is_subnormal, subnormal, normal);
    let o = select(b, is_overflow, overflow, o);
    let sign = b.ins().ushr_imm_u(sign, 16);
    Ok(b.ins().bor(o, sign))
}
