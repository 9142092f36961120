//! `exp` and `log`: Cody-Waite range reduction plus short polynomials (fdlibm/musl structure).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::lanes::{Lanes, mul_add, select};

const LOG2E: f64 = std::f64::consts::LOG2_E;

/// ln 2 split so that `k * LN2_HI` is exact for the exponents `exp` can see.
const LN2_HI_F64: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO_F64: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
pub(super) const LN2_HI_F32: f64 = f32::from_bits(0x3f31_7200) as f64;
pub(super) const LN2_LO_F32: f64 = 1.428_606_820_309_417_2e-6;

/// fdlibm `exp` rational-kernel coefficients (|r| <= ln2/2, error < 1 ulp).
const EXP_P_F64: [f64; 5] = [
    1.666_666_666_666_660_2e-1,
    -2.777_777_777_701_559_3e-3,
    6.613_756_321_437_934e-5,
    -1.653_390_220_546_525_2e-6,
    4.138_136_797_057_238_5e-8,
];

/// exp(r) = 1 + r + r^2 * P(r) for |r| <= ln2/2, P of degree 4: the interpolant of
/// (e^r - 1 - r)/r^2 at the 5 Chebyshev nodes of that range (computed in exact rational
/// arithmetic, then rounded to f32). Approximation error < 1e-8 relative (0.1 ulp), so one
/// degree fewer than Cephes' `expf` (2 instructions per vector) costs no measurable accuracy.
pub(super) const EXP_P_F32: [f64; 5] = [
    0.5,
    0.166_665_770_255_979_37,
    0.041_666_554_662_048_556,
    0.008_363_173_074_517_644,
    0.001_392_617_612_010_237,
];

/// e^x. See the module table for accuracy.
pub(crate) fn exp_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    exp_with_tail(b, l, x, None)
}

/// e^x for x <= 0 (or NaN): skips the upper clamp (sigmoid's e^-|x|).
pub(crate) fn exp_nonpositive_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    exp_clamped(b, l, x, None, false)
}

/// e^(x + tail) for a small correction `tail` (|tail| << ulp(x) scale), used by `pow`.
pub(crate) fn exp_with_tail(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    tail: Option<Value>,
) -> Value {
    exp_clamped(b, l, x, tail, true)
}

/// e^(x + tail); `clamp_above`: false when the caller guarantees x <= 0.
fn exp_clamped(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    tail: Option<Value>,
    clamp_above: bool,
) -> Value {
    // Clamp so that k stays small enough for the two-step scaling below; the clamped
    // bounds are far past overflow/underflow, so the result still saturates to inf / 0.
    // The clamps are compare+select (one minps/maxps each): a NaN lane compares false,
    // stays NaN and propagates through the polynomial and the scaling.
    let (lo, hi) = if l.is_f64() {
        (-760.0, 720.0)
    } else {
        (-110.0, 100.0)
    };
    let x = if clamp_above {
        let hi = l.fconst(b, hi);
        l.min_with_non_nan(b, x, hi)
    } else {
        x
    };
    let lo = l.fconst(b, lo);
    let x = l.max_with_non_nan(b, x, lo);

    // k = round(x·log2e) by the shift trick. With FMA the product is not rounded before the
    // shift is added, which can only move k by one next to a halfway point: r = x - k·ln2
    // then lies a hair outside ±ln2/2, where the polynomials are still accurate.
    let log2e = l.fconst(b, LOG2E);
    let shift = l.fconst(b, l.round_shift());
    let shifted = mul_add(b, x, log2e, shift);
    let kf = b.ins().fsub(shifted, shift);
    if clamp_above {
        let k = l.shifted_to_int(b, shifted);
        let p = exp_kernel(b, l, x, kf, tail, 1.0);
        scale_by_power_of_two(b, l, p, k)
    } else {
        // The scaling uses the shifted bits directly.
        let offset: i32 = if l.is_f64() { 600 } else { 64 };
        let p = exp_kernel(b, l, x, kf, tail, f64::powi(2.0, -offset));
        scale_nonpositive_by_power_of_two(b, l, p, shifted, offset)
    }
}

/// e^r · `scale`, r = x - k ln2, for `scale` a power of two that keeps the result normal
/// (1, or the 2^-OFFSET prescale of [`scale_nonpositive_by_power_of_two`]). For f32 the
/// polynomial gives sum = e^r - 1 and the result is `sum·u + u`: one `fma` with FMA, else a
/// multiply (exact: u is a power of two) and an add; both round (sum + 1)·u once, the same
/// bits as rounding sum + 1 and then scaling exactly.
fn exp_kernel(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    kf: Value,
    tail: Option<Value>,
    scale: f64,
) -> Value {
    if l.is_f64() {
        let p = exp_kernel_f64(b, l, x, kf, tail);
        if scale == 1.0 {
            return p;
        }
        let u = l.fconst(b, scale);
        return b.ins().fmul(p, u);
    }
    let sum = exp_kernel_f32_minus_one(b, l, x, kf, tail);
    let u = l.fconst(b, scale);
    if scale == 1.0 {
        b.ins().fadd(sum, u)
    } else {
        mul_add(b, sum, u, u)
    }
}

/// p * 2^k for k <= 0 down to the lower clamp (-159 for f32, -1097 for f64), given
/// `p_unscaled` = p * 2^-OFFSET and `shifted`, the float k + 1.5·2^m whose low mantissa bits
/// hold k.
///
/// Builds 2^(k + OFFSET), a normal number over that whole range, straight from the bits of
/// `shifted`: the bits are 1.5·2^m's bits plus k, and 1.5·2^m's bits vanish when shifted
/// into the exponent field (they have more trailing zeros than the exponent field is wide),
/// so `(bits + bias + OFFSET) << m` is 2^(k + OFFSET) without subtracting them first.
/// p * 2^-OFFSET is exact (p is in [0.7, 1.5], far from underflow), so the one multiply by
/// 2^(k + OFFSET) rounds once and subnormal results are correctly rounded, exactly as with
/// the two-step scaling, in 4 instructions instead of 11.
fn scale_nonpositive_by_power_of_two(
    b: &mut FunctionBuilder,
    l: Lanes,
    p_unscaled: Value,
    shifted: Value,
    offset: i32,
) -> Value {
    let bits = l.float_to_bits(b, shifted);
    let bias = l.iconst(b, l.exponent_bias() + i64::from(offset));
    let biased = b.ins().iadd(bits, bias);
    let scale_bits = b.ins().ishl_imm_u(biased, l.mantissa_bits());
    let scale = l.bits_to_float(b, scale_bits);
    b.ins().fmul(p_unscaled, scale)
}

/// fdlibm: hi = x - k ln2_hi, lo = k ln2_lo, r = hi - lo,
/// exp(r) = 1 - ((lo - r c / (2 - c)) - hi), c = r - r^2 P(r^2).
fn exp_kernel_f64(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    kf: Value,
    tail: Option<Value>,
) -> Value {
    let ln2_hi = l.fconst(b, LN2_HI_F64);
    let ln2_lo = l.fconst(b, LN2_LO_F64);
    let k_hi = b.ins().fmul(kf, ln2_hi);
    let hi = b.ins().fsub(x, k_hi);
    let mut lo = b.ins().fmul(kf, ln2_lo);
    if let Some(tail) = tail {
        lo = b.ins().fsub(lo, tail);
    }
    let r = b.ins().fsub(hi, lo);
    let t = b.ins().fmul(r, r);
    let poly = l.horner(b, t, &EXP_P_F64);
    let t_poly = b.ins().fmul(t, poly);
    let c = b.ins().fsub(r, t_poly);
    let rc = b.ins().fmul(r, c);
    let two = l.fconst(b, 2.0);
    let two_minus_c = b.ins().fsub(two, c);
    let quotient = b.ins().fdiv(rc, two_minus_c);
    let lo_minus = b.ins().fsub(lo, quotient);
    let inner = b.ins().fsub(lo_minus, hi);
    let one = l.fconst(b, 1.0);
    b.ins().fsub(one, inner)
}

/// e^r - 1 = r + r^2 P(r), r = x - k ln2 (Cody-Waite, two steps).
///
/// P is evaluated in pairs, (c0 + c1 r) + r^2 ((c2 + c3 r) + r^2 c4): the same operation
/// count as Horner's rule but three dependent steps instead of four, which matters because
/// the fused kernels it sits in are bound by dependency latency, not by issue width.
fn exp_kernel_f32_minus_one(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    kf: Value,
    tail: Option<Value>,
) -> Value {
    let neg_ln2_hi = l.fconst(b, -LN2_HI_F32);
    let neg_ln2_lo = l.fconst(b, -LN2_LO_F32);
    // k ln2_hi is exact, so x - k ln2_hi is the same with or without FMA.
    let mut r = mul_add(b, kf, neg_ln2_hi, x);
    r = mul_add(b, kf, neg_ln2_lo, r);
    if let Some(tail) = tail {
        r = b.ins().fadd(r, tail);
    }
    let r2 = b.ins().fmul(r, r);
    let poly = l.pairwise_horner(b, r, r2, &EXP_P_F32);
    mul_add(b, r2, poly, r)
}

/// p * 2^k in two steps of 2^(k/2) each, so that subnormal results are rounded once and
/// correctly, and |k| up to about twice the exponent range never builds an invalid exponent.
fn scale_by_power_of_two(b: &mut FunctionBuilder, l: Lanes, p: Value, k: Value) -> Value {
    // floor(k/2) without an arithmetic shift (none exists for 64-bit SSE lanes):
    // (k + 4096) >> 1 - 2048, valid for |k| < 4096.
    let bias = l.iconst(b, 4096);
    let biased = b.ins().iadd(k, bias);
    let halved = b.ins().ushr_imm_u(biased, 1);
    let unbias = l.iconst(b, 2048);
    let k1 = b.ins().isub(halved, unbias);
    let k2 = b.ins().isub(k, k1);
    let s1 = power_of_two(b, l, k1);
    let s2 = power_of_two(b, l, k2);
    let partial = b.ins().fmul(p, s1);
    b.ins().fmul(partial, s2)
}

/// 2^k for k within the normal exponent range.
fn power_of_two(b: &mut FunctionBuilder, l: Lanes, k: Value) -> Value {
    let bias = l.iconst(b, l.exponent_bias());
    let biased = b.ins().iadd(k, bias);
    let bits = b.ins().ishl_imm_u(biased, l.mantissa_bits());
    l.bits_to_float(b, bits)
}

/// musl `log`/`logf` coefficients: log(1+f) = f - f^2/2 + s(f^2/2 + R(s^2)).
const LG_F64: [f64; 7] = [
    6.666_666_666_666_735e-1,
    3.999_999_999_940_942e-1,
    2.857_142_874_366_239e-1,
    2.222_219_843_214_978_4e-1,
    1.818_357_216_161_805e-1,
    1.531_383_769_920_937_3e-1,
    1.479_819_860_511_658_6e-1,
];
const LG_F32: [f64; 4] = [
    11_184_810.0 / 16_777_216.0,
    13_422_099.0 / 33_554_432.0,
    9_562_606.0 / 33_554_432.0,
    16_293_414.0 / 67_108_864.0,
];

/// Natural logarithm with IEEE special cases. See the module table for accuracy.
pub(crate) fn log_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let parts = log_parts(b, l, x);
    let ln2_hi = l.fconst(
        b,
        if l.is_f64() {
            LN2_HI_F64
        } else {
            LN2_HI_F32_LOG
        },
    );
    let ln2_lo = l.fconst(
        b,
        if l.is_f64() {
            LN2_LO_F64
        } else {
            LN2_LO_F32_LOG
        },
    );
    // s(hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi, summed small to large.
    let hfsq_r = b.ins().fadd(parts.hfsq, parts.r);
    let s_term = b.ins().fmul(parts.s, hfsq_r);
    let k_lo = b.ins().fmul(parts.k, ln2_lo);
    let mut sum = b.ins().fadd(s_term, k_lo);
    sum = b.ins().fsub(sum, parts.hfsq);
    sum = b.ins().fadd(sum, parts.f);
    let k_hi = b.ins().fmul(parts.k, ln2_hi);
    let result = b.ins().fadd(sum, k_hi);
    log_special_cases(b, l, x, result)
}

/// musl's `logf` split of ln 2 (its `k ln2_hi` is exact for the exponents of f32).
const LN2_HI_F32_LOG: f64 = f32::from_bits(0x3f31_7180) as f64;
const LN2_LO_F32_LOG: f64 = f32::from_bits(0x3717_f7d1) as f64;

struct LogParts {
    /// Exponent k as a float.
    k: Value,
    /// f = m - 1 with m in [sqrt(2)/2, sqrt(2)).
    f: Value,
    /// f^2 / 2.
    hfsq: Value,
    /// s = f / (2 + f).
    s: Value,
    /// R(s^2), the tail polynomial.
    r: Value,
}

/// Splits positive `x` into 2^k * m and evaluates the musl kernel pieces.
fn log_parts(b: &mut FunctionBuilder, l: Lanes, x: Value) -> LogParts {
    // Subnormals: scale into the normal range first and correct k afterwards.
    let (min_normal, scale_exp) = if l.is_f64() {
        (f64::MIN_POSITIVE, 54)
    } else {
        (f64::from(f32::MIN_POSITIVE), 25)
    };
    let min_normal = l.fconst(b, min_normal);
    let is_subnormal = l.fcmp(b, FloatCC::LessThan, x, min_normal);
    let scale = l.fconst(b, f64::powi(2.0, scale_exp));
    let scaled = b.ins().fmul(x, scale);
    let x = select(b, is_subnormal, scaled, x);
    let adjust = l.fconst(b, -f64::from(scale_exp));
    let zero = l.fconst(b, 0.0);
    let k_adjust = select(b, is_subnormal, adjust, zero);

    // Renormalise the mantissa into [sqrt(2)/2, sqrt(2)) by integer tricks (musl).
    let (sqrt_half_bits, mant_mask) = if l.is_f64() {
        (0x3fe6_a09e_0000_0000_i64, 0x000f_ffff_ffff_ffff_i64)
    } else {
        (0x3f35_04f3, 0x007f_ffff)
    };
    let one_bits = l.exponent_bias() << l.mantissa_bits();
    let ix = l.float_to_bits(b, x);
    let offset = l.iconst(b, one_bits - sqrt_half_bits);
    let ix = b.ins().iadd(ix, offset);
    let exp_field = b.ins().ushr_imm_u(ix, l.mantissa_bits());
    let bias = l.iconst(b, l.exponent_bias());
    let k_int = b.ins().isub(exp_field, bias);
    let k_raw = l.small_int_to_float(b, k_int);
    let k = b.ins().fadd(k_raw, k_adjust);
    let mask = l.iconst(b, mant_mask);
    let mant = b.ins().band(ix, mask);
    let sqrt_half = l.iconst(b, sqrt_half_bits);
    let mant = b.ins().iadd(mant, sqrt_half);
    let m = l.bits_to_float(b, mant);

    let one = l.fconst(b, 1.0);
    let f = b.ins().fsub(m, one);
    let half = l.fconst(b, 0.5);
    let half_f = b.ins().fmul(half, f);
    let hfsq = b.ins().fmul(half_f, f);
    let two = l.fconst(b, 2.0);
    let denom = b.ins().fadd(two, f);
    let s = b.ins().fdiv(f, denom);
    let z = b.ins().fmul(s, s);
    let w = b.ins().fmul(z, z);
    let lg: &[f64] = if l.is_f64() { &LG_F64 } else { &LG_F32 };
    let odd: Vec<f64> = lg.iter().step_by(2).copied().collect();
    let even: Vec<f64> = lg.iter().skip(1).step_by(2).copied().collect();
    let t_odd = l.horner(b, w, &odd);
    let t2 = b.ins().fmul(z, t_odd);
    let t_even = l.horner(b, w, &even);
    let t1 = b.ins().fmul(w, t_even);
    let r = b.ins().fadd(t2, t1);
    LogParts { k, f, hfsq, s, r }
}

/// log(+inf) = inf, log(±0) = -inf, log(x < 0) = NaN, log(NaN) = NaN.
fn log_special_cases(b: &mut FunctionBuilder, l: Lanes, x: Value, result: Value) -> Value {
    let inf = l.fconst(b, f64::INFINITY);
    let is_inf = l.fcmp(b, FloatCC::Equal, x, inf);
    let result = select(b, is_inf, inf, result);
    let zero = l.fconst(b, 0.0);
    let is_zero = l.fcmp(b, FloatCC::Equal, x, zero);
    let neg_inf = l.fconst(b, f64::NEG_INFINITY);
    let result = select(b, is_zero, neg_inf, result);
    let nan = l.fconst(b, f64::NAN);
    let negative_or_nan = l.fcmp(b, FloatCC::UnorderedOrLessThan, x, zero);
    select(b, negative_or_nan, nan, result)
}
