//! `sin` and `cos`: Cody-Waite reduction by pi/2 in f64, then the fdlibm kernels.
//!
//! f32 lanes are computed in f64 (see `widen`), with a two-part reduction and the short
//! `__kernel_sindf`/`__kernel_cosdf` polynomials; f64 lanes use fdlibm's three-step
//! medium-size reduction (exact products for |k| < 2^20, i.e. |x| < ~1.6e6) and the full
//! kernels with the reduction tail. Lanes with |x| >= 2^19 take the Payne-Hanek reduction of
//! `trig_large` instead (only run when some lane needs it).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::lanes::{Lanes, select};
use super::trig_large::with_large_arguments;
use super::widen::via_f64;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trig {
    Sin,
    Cos,
}

const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// pi/2 split into 33-bit leading parts and 53-bit tails (fdlibm `__rem_pio2`).
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000);
const PIO2_1T: f64 = f64::from_bits(0x3dd0_b461_1a62_6331);
const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000);
const PIO2_2T: f64 = f64::from_bits(0x3ba3_198a_2e03_7073);
const PIO2_3: f64 = f64::from_bits(0x3ba3_198a_2e00_0000);
const PIO2_3T: f64 = f64::from_bits(0x397b_839a_2520_49c1);

/// fdlibm `__kernel_sin` S2..S6 and S1.
const SIN_S1: f64 = -1.666_666_666_666_663_2e-1;
const SIN_S2_TO_S6: [f64; 5] = [
    8.333_333_333_322_49e-3,
    -1.984_126_982_985_795e-4,
    2.755_731_370_707_006_8e-6,
    -2.505_076_025_340_686_3e-8,
    1.589_690_995_211_55e-10,
];
/// fdlibm `__kernel_cos` C1..C6.
const COS_C1_TO_C6: [f64; 6] = [
    0.041_666_666_666_666_66,
    -1.388_888_888_887_411e-3,
    2.480_158_728_947_673e-5,
    -2.755_731_435_139_066_3e-7,
    2.087_572_321_298_175e-9,
    -1.135_964_755_778_819_5e-11,
];
/// fdlibm `__kernel_sindf` / `__kernel_cosdf` (double arithmetic, f32 accuracy).
const SINDF: [f64; 4] = [
    -1.666_666_664_162_652_4e-1,
    8.333_329_385_889_463e-3,
    -1.983_933_483_609_663_2e-4,
    2.718_311_493_989_822e-6,
];
const COSDF: [f64; 4] = [
    -4.999_999_972_510_31e-1,
    0.041_666_623_323_739_06,
    -1.388_676_377_460_993e-3,
    2.439_044_879_627_741e-5,
];

pub(crate) fn trig_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value, which: Trig) -> Value {
    let full_precision = l.is_f64();
    via_f64(b, l, &[x], &|b, l64, args| {
        let result = trig_f64(b, l64, args[0], which, full_precision);
        if which == Trig::Sin {
            // The reduction turns -0 into +0; sin(±0) must return the zero unchanged.
            let zero = l64.fconst(b, 0.0);
            let is_zero = l64.fcmp(b, FloatCC::Equal, args[0], zero);
            select(b, is_zero, args[0], result)
        } else {
            result
        }
    })
}

fn trig_f64(b: &mut FunctionBuilder, l: Lanes, x: Value, which: Trig, full: bool) -> Value {
    let fast = cody_waite(b, l, x, full);
    let (y0, y1, k) = with_large_arguments(b, l, x, full, fast);
    let (sin_r, cos_r) = if full {
        (kernel_sin(b, l, y0, y1), kernel_cos(b, l, y0, y1))
    } else {
        (kernel_sindf(b, l, y0), kernel_cosdf(b, l, y0))
    };
    quadrant(b, l, k, which, sin_r, cos_r)
}

/// k = round(2x/π) and x - k·π/2 as y0 + y1 (y1 = 0 for f32 arguments, whose kernels take
/// y0 alone): exact for |k| < 2^20, which [`with_large_arguments`] relies on.
fn cody_waite(b: &mut FunctionBuilder, l: Lanes, x: Value, full: bool) -> (Value, Value, Value) {
    let two_over_pi = l.fconst(b, TWO_OVER_PI);
    let scaled = b.ins().fmul(x, two_over_pi);
    let (kf, k) = l.round_to_int(b, scaled);

    let p1 = l.fconst(b, PIO2_1);
    let k_p1 = b.ins().fmul(kf, p1);
    let mut r = b.ins().fsub(x, k_p1);
    let p1t = l.fconst(b, PIO2_1T);
    let mut w = b.ins().fmul(kf, p1t);
    if full {
        for (part, tail) in [(PIO2_2, PIO2_2T), (PIO2_3, PIO2_3T)] {
            // t = r; w = k*part; r = t - w; w = k*tail - ((t - r) - w)
            let t = r;
            let part = l.fconst(b, part);
            let k_part = b.ins().fmul(kf, part);
            r = b.ins().fsub(t, k_part);
            let dropped = b.ins().fsub(t, r);
            let err = b.ins().fsub(dropped, k_part);
            let tail = l.fconst(b, tail);
            let k_tail = b.ins().fmul(kf, tail);
            w = b.ins().fsub(k_tail, err);
        }
    }
    let y0 = b.ins().fsub(r, w);
    let y1 = if full {
        let diff = b.ins().fsub(r, y0);
        b.ins().fsub(diff, w)
    } else {
        l.fconst(b, 0.0)
    };
    (y0, y1, k)
}

/// sin or cos of x from those of the reduced argument and the quadrant k.
fn quadrant(
    b: &mut FunctionBuilder,
    l: Lanes,
    k: Value,
    which: Trig,
    sin_r: Value,
    cos_r: Value,
) -> Value {
    // Quadrant n = k mod 4: sin uses (s, c, -s, -c), cos uses (c, -s, -c, s).
    let three = l.iconst(b, 3);
    let n = b.ins().band(k, three);
    let one = l.iconst(b, 1);
    let odd = b.ins().band(n, one);
    let zero = l.iconst(b, 0);
    let odd_mask = b.ins().isub(zero, odd);
    let (on_odd, on_even, sign_source) = match which {
        Trig::Sin => (cos_r, sin_r, n),
        Trig::Cos => (sin_r, cos_r, b.ins().iadd(n, one)),
    };
    let value = select(b, odd_mask, on_odd, on_even);
    let two = l.iconst(b, 2);
    let negate = b.ins().band(sign_source, two);
    let sign = b.ins().ishl_imm_u(negate, 62);
    let bits = l.float_to_bits(b, value);
    let flipped = b.ins().bxor(bits, sign);
    l.bits_to_float(b, flipped)
}

/// sin(x + y), |x| <= pi/4, |y| tiny: x - ((z (y/2 - v r) - y) - v S1), v = z x.
fn kernel_sin(b: &mut FunctionBuilder, l: Lanes, x: Value, y: Value) -> Value {
    let z = b.ins().fmul(x, x);
    let r = l.horner(b, z, &SIN_S2_TO_S6);
    let v = b.ins().fmul(z, x);
    let half = l.fconst(b, 0.5);
    let half_y = b.ins().fmul(half, y);
    let vr = b.ins().fmul(v, r);
    let inner = b.ins().fsub(half_y, vr);
    let z_inner = b.ins().fmul(z, inner);
    let minus_y = b.ins().fsub(z_inner, y);
    let s1 = l.fconst(b, SIN_S1);
    let v_s1 = b.ins().fmul(v, s1);
    let total = b.ins().fsub(minus_y, v_s1);
    b.ins().fsub(x, total)
}

/// cos(x + y): w + (((1 - w) - z/2) + (z r - x y)), w = 1 - z/2.
fn kernel_cos(b: &mut FunctionBuilder, l: Lanes, x: Value, y: Value) -> Value {
    let z = b.ins().fmul(x, x);
    let poly = l.horner(b, z, &COS_C1_TO_C6);
    let r = b.ins().fmul(z, poly);
    let half = l.fconst(b, 0.5);
    let hz = b.ins().fmul(half, z);
    let one = l.fconst(b, 1.0);
    let w = b.ins().fsub(one, hz);
    let one_minus_w = b.ins().fsub(one, w);
    let lost = b.ins().fsub(one_minus_w, hz);
    let zr = b.ins().fmul(z, r);
    let xy = b.ins().fmul(x, y);
    let corr = b.ins().fsub(zr, xy);
    let tail = b.ins().fadd(lost, corr);
    b.ins().fadd(w, tail)
}

fn kernel_sindf(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let z = b.ins().fmul(x, x);
    let poly = l.horner(b, z, &SINDF);
    let zp = b.ins().fmul(z, poly);
    let xzp = b.ins().fmul(x, zp);
    b.ins().fadd(x, xzp)
}

fn kernel_cosdf(b: &mut FunctionBuilder, l: Lanes, x: Value) -> Value {
    let z = b.ins().fmul(x, x);
    let poly = l.horner(b, z, &COSDF);
    let zp = b.ins().fmul(z, poly);
    let one = l.fconst(b, 1.0);
    b.ins().fadd(one, zp)
}
