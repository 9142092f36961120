//! `tanh` and `sigmoid` on top of `exp`, arranged so that no lane ever computes inf/inf.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::exp_log::{exp_lanes, exp_nonpositive_lanes};
use super::lanes::{Lanes, select};

/// Cephes `tanhf` odd polynomial for |x| < 0.625: tanh(x) = x + x z P(z), z = x^2.
pub(super) const TANH_P_F32: [f64; 5] = [
    -3.333_328_194_22e-1,
    1.333_144_220_36e-1,
    -5.373_971_555_31e-2,
    2.063_908_879_54e-2,
    -5.704_988_727_45e-3,
];
/// Cephes `tanh` rational kernel for |x| < 0.625: tanh(x) = x + x z P(z)/Q(z).
const TANH_P_F64: [f64; 3] = [
    -1.614_687_684_417_084_5e3,
    -9.928_772_310_019_186e1,
    -9.643_991_794_250_522e-1,
];
const TANH_Q_F64: [f64; 4] = [
    4.844_063_053_251_255e3,
    2.235_488_390_601_004_5e3,
    1.128_116_784_916_329_3e2,
    1.0,
];

/// Below this |x| the odd polynomial is used, above it 1 - 2/(e^(2|x|) + 1).
pub(super) const TANH_SMALL: f64 = 0.625;

pub(crate) fn tanh_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let z = b.ins().fmul(x, x);
    let ratio = if l.is_f64() {
        let p = l.horner(b, z, &TANH_P_F64);
        let q = l.horner(b, z, &TANH_Q_F64);
        b.ins().fdiv(p, q)
    } else {
        l.horner(b, z, &TANH_P_F32)
    };
    let xz = b.ins().fmul(x, z);
    let correction = b.ins().fmul(xz, ratio);
    // x + (-0 correction) would turn -0 into +0; tanh is odd, so take the sign of x.
    let small_unsigned = b.ins().fadd(x, correction);
    let small = l.copysign(b, small_unsigned, x);

    // e^(2|x|) overflows to inf for large |x|: 2/(inf + 1) = 0 gives exactly 1.
    let ax = b.ins().fabs(x);
    let two_ax = b.ins().fadd(ax, ax);
    let e = exp_lanes(b, l, two_ax);
    let one = l.fconst(b, 1.0);
    let e_plus_one = b.ins().fadd(e, one);
    let two = l.fconst(b, 2.0);
    let frac = b.ins().fdiv(two, e_plus_one);
    let large_abs = b.ins().fsub(one, frac);
    let large = l.copysign(b, large_abs, x);

    // NaN compares false and takes the `large` path, whose exp already yields NaN.
    let threshold = l.fconst(b, TANH_SMALL);
    let is_small = l.fcmp(b, FloatCC::LessThan, ax, threshold);
    select(b, is_small, small, large)
}

/// 1/(1+e^-x) as n/(1+e) with e = e^-|x| and n = 1 for x >= 0, n = e for x < 0: e never
/// overflows, so large |x| neither loses accuracy (tiny results keep full relative
/// precision, subnormals included) nor makes inf/inf.
/// 1/(1+e^-x) for x >= 0 (or NaN; -0 included), as [`sigmoid_lanes`] computes it there
/// without the sign test and select: the numerator is always 1.
pub(crate) fn sigmoid_nonnegative_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let neg_zero = l.fconst(b, -0.0);
    let neg_x = b.ins().bor(x, neg_zero);
    let e = exp_nonpositive_lanes(b, l, neg_x);
    let one = l.fconst(b, 1.0);
    let denom = b.ins().fadd(one, e);
    b.ins().fdiv(one, denom)
}

pub(crate) fn sigmoid_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    // -|x| is x with the sign bit set: one `orps`.
    let neg_zero = l.fconst(b, -0.0);
    let neg_ax = b.ins().bor(x, neg_zero);
    let e = exp_nonpositive_lanes(b, l, neg_ax);
    let one = l.fconst(b, 1.0);
    let denom = b.ins().fadd(one, e);
    let zero = l.fconst(b, 0.0);
    let is_negative = l.fcmp(b, FloatCC::LessThan, x, zero);
    let numer = select(b, is_negative, e, one);
    b.ins().fdiv(numer, denom)
}
