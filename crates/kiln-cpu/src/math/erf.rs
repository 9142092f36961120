//! `erf`: Taylor series near zero, `1 - exp(-x^2) g(x)` with a fitted g beyond.
//!
//! For |x| < 1, erf(x) = x * sum_n c_n x^(2n), c_n = 2/sqrt(pi) (-1)^n / (n! (2n+1)),
//! truncated where the next term drops below the lane's precision. For 1 <= |x|,
//! erf(x) = 1 - exp(-x^2) g(x) with g(x) = exp(x^2) erfc(x) approximated by a
//! Chebyshev-interpolation polynomial (fitted offline at 110 digits, rounded to the lane
//! type): in t = (x - 2.46)/1.46 on [1, 3.92] for f32, in t = (1/x - 7/12)/(5/12) on
//! [1, 6] for f64. Beyond those bounds erf rounds to ±1, so |x| is clamped to them.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::exp_log::exp_lanes;
use super::lanes::{Lanes, select};

/// g(x) in t = (1/x - 7/12)/(5/12), lowest degree first.
const ERFC_G_F64: [f64; 23] = [
    f64::from_bits(0x3fd28acea1a26144),
    f64::from_bits(0x3fc52a9ac8ca97f2),
    f64::from_bits(0xbf9f922cc68a4466),
    f64::from_bits(0x3f671c57a7a8f108),
    f64::from_bits(0x3f50f2b92539af05),
    f64::from_bits(0xbf483209759eb43b),
    f64::from_bits(0x3f31681ecdf6d367),
    f64::from_bits(0xbf0cfc6d10ad96ff),
    f64::from_bits(0xbed0f909c39c13b5),
    f64::from_bits(0x3ee6d28a44f89eae),
    f64::from_bits(0xbedb4130baf58af5),
    f64::from_bits(0x3ec5aba235880de4),
    f64::from_bits(0xbea64555796c299a),
    f64::from_bits(0x3e1033fddebaffd8),
    f64::from_bits(0x3e81177ee657da13),
    f64::from_bits(0xbe794420be21b9b7),
    f64::from_bits(0x3e6876b92c1e538e),
    f64::from_bits(0xbe549f0d81aa5303),
    f64::from_bits(0x3e3e6a701ba9cb30),
    f64::from_bits(0x3e004cbff45855e5),
    f64::from_bits(0xbe28f94aa702618f),
    f64::from_bits(0x3e19e6d499ae3857),
    f64::from_bits(0xbdf10f28c5b4a012),
];
/// g(x) in t = (x - 2.46)/1.46, lowest degree first (exact f32 values).
pub(super) const ERFC_G_F32: [f64; 12] = [
    f64::from_bits(0x3fcb5e79c0000000),
    f64::from_bits(0xbfbc8c5f00000000),
    f64::from_bits(0x3fac4a9280000000),
    f64::from_bits(0xbf9acbc3e0000000),
    f64::from_bits(0x3f885cb240000000),
    f64::from_bits(0xbf755bd160000000),
    f64::from_bits(0x3f624139c0000000),
    f64::from_bits(0xbf4df6ca60000000),
    f64::from_bits(0x3f3596f500000000),
    f64::from_bits(0xbf20f255a0000000),
    f64::from_bits(0x3f152887c0000000),
    f64::from_bits(0xbefec14740000000),
];

/// Number of Taylor terms for |x| < 1: the first omitted term is below 2^-56 (f64) or
/// 2^-27 (f32) relative.
const TAYLOR_TERMS_F64: usize = 19;
const TAYLOR_TERMS_F32: usize = 11;

/// The first `N` Taylor coefficients, evaluated at compile time (IEEE arithmetic, the same
/// values a run-time loop computes).
const fn taylor_coefficients<const N: usize>() -> [f64; N] {
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    let mut out = [0.0; N];
    let mut factorial = 1.0_f64;
    let mut n = 0;
    while n < N {
        if n > 0 {
            factorial *= n as f64;
        }
        let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
        out[n] = sign * two_over_sqrt_pi / (factorial * (2 * n + 1) as f64);
        n += 1;
    }
    out
}

const TAYLOR_F64: [f64; TAYLOR_TERMS_F64] = taylor_coefficients();
pub(super) const TAYLOR_F32: [f64; TAYLOR_TERMS_F32] = taylor_coefficients();

pub(crate) fn erf_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let taylor: &[f64] = if l.is_f64() { &TAYLOR_F64 } else { &TAYLOR_F32 };
    let z = b.ins().fmul(x, x);
    let series = l.horner(b, z, taylor);
    let small = b.ins().fmul(x, series);

    let ax = b.ins().fabs(x);
    let clamp = l.fconst(b, if l.is_f64() { 6.0 } else { 3.92 });
    let ax_clamped = b.ins().fmin(ax, clamp);
    let g = if l.is_f64() {
        let one = l.fconst(b, 1.0);
        let u = b.ins().fdiv(one, ax_clamped);
        let scale = l.fconst(b, 2.4);
        let offset = l.fconst(b, 1.4);
        let scaled = b.ins().fmul(u, scale);
        let t = b.ins().fsub(scaled, offset);
        l.horner(b, t, &ERFC_G_F64)
    } else {
        let scale = l.fconst(b, 1.0 / 1.46);
        let offset = l.fconst(b, 2.46 / 1.46);
        let scaled = b.ins().fmul(ax_clamped, scale);
        let t = b.ins().fsub(scaled, offset);
        l.horner(b, t, &ERFC_G_F32)
    };
    let sq = b.ins().fmul(ax_clamped, ax_clamped);
    let neg_sq = b.ins().fneg(sq);
    let e = exp_lanes(b, l, neg_sq);
    let erfc = b.ins().fmul(e, g);
    let one = l.fconst(b, 1.0);
    let large_abs = b.ins().fsub(one, erfc);
    let large = l.copysign(b, large_abs, x);

    // NaN fails the comparison and flows through fmin into the large branch as NaN.
    let is_small = l.fcmp(b, FloatCC::LessThan, ax, one);
    select(b, is_small, small, large)
}
