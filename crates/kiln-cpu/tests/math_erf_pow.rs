//! Accuracy and special values of `math::erf` (against glibc `erf`/`erff`) and `math::pow`.

mod math_harness;

use cranelift_codegen::ir::Type;
use cranelift_codegen::ir::types::{F32, F64};
use kiln_cpu::math;
use math_harness::{Pair, Rng, f32_inputs, f64_inputs, max_ulp_f32, max_ulp_f64, ulp_f32, ulp_f64};

unsafe extern "C" {
    fn erf(x: f64) -> f64;
}

/// Documented bounds (see `math/mod.rs`), in ulps.
const ERF_F32_MAX_ULP: u64 = 3;
const ERF_F64_MAX_ULP: u64 = 2;
const POW_F32_MAX_ULP: u64 = 1;
const POW_F64_BASE_ULP: f64 = 2.0;
const POW_F64_ULP_PER_UNIT: f64 = 2.0;

fn libm_erf(x: f64) -> f64 {
    // SAFETY: glibc's erf is a pure function of its argument.
    unsafe { erf(x) }
}

fn erf_pair(ty: Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::erf(b, a[0]))
}

fn pow_pair(ty: Type) -> Pair {
    Pair::new(ty, ty, 2, |b, a| math::pow(b, a[0], a[1]))
}

#[test]
fn erf_f32_matches_libm() {
    let k = erf_pair(F32);
    let inputs = f32_inputs(100_000, 200_000, -5.0, 5.0, 31);
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| libm_erf(f64::from(x)) as f32);
    eprintln!("erf f32 max ulp {err} at {at:e}");
    assert!(err <= ERF_F32_MAX_ULP, "erf f32 error {err} ulp at {at:e}");
}

#[test]
fn erf_f64_matches_libm() {
    let k = erf_pair(F64);
    let inputs = f64_inputs(50_000, 100_000, -7.0, 7.0, 32);
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, libm_erf);
    eprintln!("erf f64 max ulp {err} at {at:e}");
    assert!(err <= ERF_F64_MAX_ULP, "erf f64 error {err} ulp at {at:e}");
}

#[test]
fn erf_special_values() {
    let x = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0];
    let y: Vec<f32> = erf_pair(F32).run(&x, &x);
    assert_eq!((y[0], y[1]), (1.0, -1.0));
    assert!(y[2].is_nan());
    assert_eq!((y[3].to_bits(), y[4].to_bits()), (0, (-0.0f32).to_bits()));
    let x = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0];
    let y: Vec<f64> = erf_pair(F64).run(&x, &x);
    assert_eq!((y[0], y[1]), (1.0, -1.0));
    assert!(y[2].is_nan());
    assert_eq!(y[3].to_bits(), (-0.0f64).to_bits());
}

/// Random (x, y) pairs: positive bases with moderate exponents, negative bases with integer
/// exponents, and a grid of special values against each other.
fn pow_cases(count: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let special = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        2.5,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-300,
        1e300,
        4.9e-324,
    ];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &x in &special {
        for &y in &special {
            xs.push(x);
            ys.push(y);
        }
    }
    let mut rng = Rng::new(seed);
    for _ in 0..count {
        let x = rng.uniform(-30.0, 30.0).exp2();
        let y = rng.uniform(-8.0, 8.0);
        xs.push(x);
        ys.push(y);
        xs.push(-rng.uniform(0.0, 10.0));
        ys.push(rng.uniform(-20.0, 20.0).round());
        xs.push(rng.uniform(0.0, 4.0));
        ys.push(rng.uniform(-300.0, 300.0));
    }
    (xs, ys)
}

/// Worst error of f64 `pow` relative to its documented bound `POW_F64_BASE_ULP +
/// POW_F64_ULP_PER_UNIT * |y ln|x||` (the log's rounding error is amplified by |y ln x|).
/// Returns (worst error / bound, error, x, y).
fn pow_worst_f64(xs: &[f64], ys: &[f64], got: &[f64]) -> (f64, u64, f64, f64) {
    let mut worst = (0.0, 0, 0.0, 0.0);
    for ((&x, &y), &g) in xs.iter().zip(ys).zip(got) {
        let e = ulp_f64(g, x.powf(y));
        let magnitude = (y * x.abs().ln()).abs();
        let magnitude = if magnitude.is_finite() {
            magnitude
        } else {
            0.0
        };
        let bound = POW_F64_BASE_ULP + POW_F64_ULP_PER_UNIT * magnitude;
        let ratio = e as f64 / bound;
        if ratio > worst.0 {
            worst = (ratio, e, x, y);
        }
    }
    worst
}

#[test]
fn pow_f32_matches_libm() {
    let (xs, ys) = pow_cases(40_000, 33);
    let xs: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let ys: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
    let got: Vec<f32> = pow_pair(F32).run(&xs, &ys);
    let mut worst = (0, 0.0, 0.0);
    for ((&x, &y), &g) in xs.iter().zip(&ys).zip(&got) {
        let e = ulp_f32(g, f64::from(x).powf(f64::from(y)) as f32);
        if e > worst.0 {
            worst = (e, x, y);
        }
    }
    eprintln!(
        "pow f32 max ulp {} at x={:e} y={:e}",
        worst.0, worst.1, worst.2
    );
    assert!(worst.0 <= POW_F32_MAX_ULP, "pow f32 error {worst:?}");
}

#[test]
fn pow_f64_matches_libm() {
    let (xs, ys) = pow_cases(30_000, 34);
    let got: Vec<f64> = pow_pair(F64).run(&xs, &ys);
    let worst = pow_worst_f64(&xs, &ys, &got);
    eprintln!(
        "pow f64 worst error/bound {} ({} ulp) at x={:e} y={:e}",
        worst.0, worst.1, worst.2, worst.3
    );
    assert!(worst.0 <= 1.0, "pow f64 error over bound: {worst:?}");
}
