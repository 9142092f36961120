//! Accuracy and special values of `math::exp` and `math::log` against libm.

mod math_harness;

use cranelift_codegen::ir::types::{F32, F64};
use kiln_cpu::math;
use math_harness::{Pair, f32_inputs, f64_inputs, max_ulp_f32, max_ulp_f64, pow2_f32, pow2_f64};

/// Documented bounds (see `math/mod.rs`), in ulps against glibc.
const EXP_F32_MAX_ULP: u64 = 1;
const EXP_F64_MAX_ULP: u64 = 1;
const LOG_F32_MAX_ULP: u64 = 1;
const LOG_F64_MAX_ULP: u64 = 1;

fn exp_pair(ty: cranelift_codegen::ir::Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::exp(b, a[0]))
}

fn log_pair(ty: cranelift_codegen::ir::Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::log(b, a[0]))
}

#[test]
fn exp_f32_matches_libm() {
    let k = exp_pair(F32);
    let inputs = f32_inputs(100_000, 200_000, -104.0, 89.0, 1);
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| f64::from(x).exp() as f32);
    eprintln!("exp f32 max ulp {err} at {at:e}");
    assert!(err <= EXP_F32_MAX_ULP, "exp f32 error {err} ulp at {at:e}");
}

#[test]
fn exp_f64_matches_libm() {
    let k = exp_pair(F64);
    let inputs = f64_inputs(50_000, 100_000, -746.0, 710.0, 2);
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, f64::exp);
    eprintln!("exp f64 max ulp {err} at {at:e}");
    assert!(err <= EXP_F64_MAX_ULP, "exp f64 error {err} ulp at {at:e}");
}

#[test]
fn exp_special_values() {
    let k32 = exp_pair(F32);
    let x = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        88.8,
        -104.0,
        0.0,
        -0.0,
        -87.5,
    ];
    let y: Vec<f32> = k32.run(&x, &x);
    assert_eq!(y[0], f32::INFINITY);
    assert_eq!(y[1], 0.0);
    assert!(y[2].is_nan());
    assert_eq!(y[3], f32::INFINITY, "overflow saturates");
    assert_eq!(y[4], 0.0, "underflow flushes");
    assert_eq!((y[5], y[6]), (1.0, 1.0));
    assert!(
        y[7] > 0.0 && y[7] < f32::MIN_POSITIVE,
        "subnormal result kept: {:e}",
        y[7]
    );
    let k64 = exp_pair(F64);
    let x = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        709.8,
        -745.2,
        -708.5,
    ];
    let y: Vec<f64> = k64.run(&x, &x);
    assert_eq!((y[0], y[1]), (f64::INFINITY, 0.0));
    assert!(y[2].is_nan());
    assert_eq!((y[3], y[4]), (f64::INFINITY, 0.0));
    assert!(y[5] > 0.0 && y[5] < f64::MIN_POSITIVE);
}

#[test]
fn log_f32_matches_libm() {
    let k = log_pair(F32);
    let mut inputs = f32_inputs(200_000, 100_000, 0.0, 4.0, 3);
    inputs.extend((1..20_000).map(|i| 1.0 + (i as f32 - 10_000.0) * 1e-6));
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| f64::from(x).ln() as f32);
    eprintln!("log f32 max ulp {err} at {at:e}");
    assert!(err <= LOG_F32_MAX_ULP, "log f32 error {err} ulp at {at:e}");
}

#[test]
fn log_f64_matches_libm() {
    let k = log_pair(F64);
    let mut inputs = f64_inputs(100_000, 50_000, 0.0, 4.0, 4);
    inputs.extend((1..20_000).map(|i| 1.0 + (f64::from(i) - 10_000.0) * 1e-9));
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, f64::ln);
    eprintln!("log f64 max ulp {err} at {at:e}");
    assert!(err <= LOG_F64_MAX_ULP, "log f64 error {err} ulp at {at:e}");
}

#[test]
fn log_special_values() {
    let k32 = log_pair(F32);
    let x = [
        0.0,
        -0.0,
        -1.0,
        f32::INFINITY,
        f32::NAN,
        f32::NEG_INFINITY,
        pow2_f32(-149),
        1.0,
    ];
    let y: Vec<f32> = k32.run(&x, &x);
    assert_eq!((y[0], y[1]), (f32::NEG_INFINITY, f32::NEG_INFINITY));
    assert!(y[2].is_nan() && y[4].is_nan() && y[5].is_nan());
    assert_eq!(y[3], f32::INFINITY);
    assert_eq!(y[6], (-149.0 * std::f64::consts::LN_2) as f32);
    assert_eq!(y[7], 0.0);
    let k64 = log_pair(F64);
    let x = [0.0, -2.0, f64::INFINITY, f64::NAN, pow2_f64(-1074)];
    let y: Vec<f64> = k64.run(&x, &x);
    assert_eq!(y[0], f64::NEG_INFINITY);
    assert!(y[1].is_nan() && y[3].is_nan());
    assert_eq!(y[2], f64::INFINITY);
    assert!((y[4] - (-1074.0 * std::f64::consts::LN_2)).abs() < 1e-12);
}
