//! `pow` as exp(y * log|x|) in f64, with C99 `pow` special cases applied by lane selects.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::exp_log::{exp_lanes, log_lanes};
use super::lanes::{Lanes, select};
use super::widen::via_f64;

pub(crate) fn pow_lanes(b: &mut FunctionBuilder, l: Lanes, x: Value, y: Value) -> Value {
    via_f64(b, l, &[x, y], &|b, l64, args| {
        pow_f64(b, l64, args[0], args[1])
    })
}

fn pow_f64(b: &mut FunctionBuilder, l: Lanes, x: Value, y: Value) -> Value {
    // log|x| is -inf at 0 and inf at inf, so y * log|x| already saturates exp correctly
    // for zeros, infinities and |x| != 1 with infinite y.
    let ax = b.ins().fabs(x);
    let log_ax = log_lanes(b, l, ax);
    let product = b.ins().fmul(y, log_ax);
    let magnitude = exp_lanes(b, l, product);

    // Negative x (including -0 and -inf) with odd integer y gives a negative result.
    let y_is_int = is_integer(b, l, y);
    let half = l.fconst(b, 0.5);
    let half_y = b.ins().fmul(y, half);
    let half_y_is_int = is_integer(b, l, half_y);
    let y_is_odd = b.ins().band_not(y_is_int, half_y_is_int);
    let sign_mask = l.iconst(b, l.sign_bit());
    let x_bits = l.float_to_bits(b, x);
    let x_sign = b.ins().band(x_bits, sign_mask);
    let no_sign = l.iconst(b, 0);
    let flip = select(b, y_is_odd, x_sign, no_sign);
    let mag_bits = l.float_to_bits(b, magnitude);
    let signed_bits = b.ins().bxor(mag_bits, flip);
    let mut result = l.bits_to_float(b, signed_bits);

    // Finite negative x with a non-integer y has no real result.
    let zero = l.fconst(b, 0.0);
    let neg_inf = l.fconst(b, f64::NEG_INFINITY);
    let x_negative = l.fcmp(b, FloatCC::LessThan, x, zero);
    let x_finite = l.fcmp(b, FloatCC::GreaterThan, x, neg_inf);
    let x_negative_finite = b.ins().band(x_negative, x_finite);
    let no_real_result = b.ins().band_not(x_negative_finite, y_is_int);
    let nan = l.fconst(b, f64::NAN);
    result = select(b, no_real_result, nan, result);

    // pow(x, ±0) = 1 and pow(1, y) = 1 even for NaN; pow(-1, ±inf) = 1.
    let one = l.fconst(b, 1.0);
    let minus_one = l.fconst(b, -1.0);
    let inf = l.fconst(b, f64::INFINITY);
    let y_zero = l.fcmp(b, FloatCC::Equal, y, zero);
    let x_one = l.fcmp(b, FloatCC::Equal, x, one);
    let x_minus_one = l.fcmp(b, FloatCC::Equal, x, minus_one);
    let ay = b.ins().fabs(y);
    let y_inf = l.fcmp(b, FloatCC::Equal, ay, inf);
    let minus_one_inf = b.ins().band(x_minus_one, y_inf);
    let one_cases = b.ins().bor(y_zero, x_one);
    let one_cases = b.ins().bor(one_cases, minus_one_inf);
    select(b, one_cases, one, result)
}

/// Lane mask: `v` is an integer (infinities count as even integers, NaN as neither).
fn is_integer(b: &mut FunctionBuilder, l: Lanes, v: Value) -> Value {
    // Every float of magnitude >= 2^m is an integer; below that, adding and subtracting
    // 2^m rounds to the nearest integer, which equals |v| exactly when |v| is one.
    let two_m = l.fconst(b, f64::powi(2.0, l.mantissa_bits() as i32));
    let av = b.ins().fabs(v);
    let large = l.fcmp(b, FloatCC::GreaterThanOrEqual, av, two_m);
    let shifted = b.ins().fadd(av, two_m);
    let rounded = b.ins().fsub(shifted, two_m);
    let exact = l.fcmp(b, FloatCC::Equal, rounded, av);
    b.ins().bor(large, exact)
}
