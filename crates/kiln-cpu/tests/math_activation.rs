//! Accuracy and special values of `math::tanh` and `math::sigmoid`.

mod math_harness;

use cranelift_codegen::ir::Type;
use cranelift_codegen::ir::types::{F32, F64};
use kiln_cpu::math;
use math_harness::{Pair, f32_inputs, f64_inputs, max_ulp_f32, max_ulp_f64};

/// Documented bounds (see `math/mod.rs`), in ulps.
const TANH_F32_MAX_ULP: u64 = 1;
const TANH_F64_MAX_ULP: u64 = 2;
const SIGMOID_F32_MAX_ULP: u64 = 2;
const SIGMOID_F64_MAX_ULP: u64 = 2;

fn tanh_pair(ty: Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::tanh(b, a[0]))
}

fn sigmoid_pair(ty: Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::sigmoid(b, a[0]))
}

fn sigmoid_nonnegative_pair(ty: Type) -> Pair {
    Pair::new(ty, ty, 1, |b, a| math::sigmoid_nonnegative(b, a[0]))
}

/// Reference sigmoid in f64 that neither overflows nor cancels.
fn sigmoid_ref(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[test]
fn tanh_f32_matches_libm() {
    let k = tanh_pair(F32);
    let inputs = f32_inputs(100_000, 200_000, -10.0, 10.0, 11);
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| f64::from(x).tanh() as f32);
    eprintln!("tanh f32 max ulp {err} at {at:e}");
    assert!(
        err <= TANH_F32_MAX_ULP,
        "tanh f32 error {err} ulp at {at:e}"
    );
}

#[test]
fn tanh_f64_matches_libm() {
    let k = tanh_pair(F64);
    let inputs = f64_inputs(50_000, 100_000, -20.0, 20.0, 12);
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, f64::tanh);
    eprintln!("tanh f64 max ulp {err} at {at:e}");
    assert!(
        err <= TANH_F64_MAX_ULP,
        "tanh f64 error {err} ulp at {at:e}"
    );
}

#[test]
fn sigmoid_f32_matches_reference() {
    let k = sigmoid_pair(F32);
    let inputs = f32_inputs(100_000, 200_000, -110.0, 30.0, 13);
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| sigmoid_ref(f64::from(x)) as f32);
    eprintln!("sigmoid f32 max ulp {err} at {at:e}");
    assert!(
        err <= SIGMOID_F32_MAX_ULP,
        "sigmoid f32 error {err} ulp at {at:e}"
    );
}

/// The relu-fed variant: same bound on [0, 30] / [0, 40], and the same bits as `sigmoid`
/// there, -0 and NaN included.
#[test]
fn sigmoid_nonnegative_matches_sigmoid() {
    let k = sigmoid_nonnegative_pair(F32);
    let mut inputs = f32_inputs(100_000, 200_000, 0.0, 30.0, 15);
    inputs.retain(|x| x.is_nan() || x.is_sign_positive() || *x == 0.0);
    inputs.extend([0.0, -0.0, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE, 1e30]);
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f32(&inputs, &got, |x| sigmoid_ref(f64::from(x)) as f32);
    eprintln!("sigmoid_nonnegative f32 max ulp {err} at {at:e}");
    assert!(err <= SIGMOID_F32_MAX_ULP, "f32 error {err} ulp at {at:e}");
    let full: Vec<f32> = sigmoid_pair(F32).run(&inputs, &inputs);
    for ((x, a), b) in inputs.iter().zip(&got).zip(&full) {
        assert!(
            a.to_bits() == b.to_bits(),
            "f32 at {x:e}: {a:e} vs sigmoid {b:e}"
        );
    }
    let k = sigmoid_nonnegative_pair(F64);
    let mut inputs = f64_inputs(50_000, 100_000, 0.0, 40.0, 16);
    inputs.retain(|x| x.is_nan() || x.is_sign_positive() || *x == 0.0);
    inputs.extend([0.0, -0.0, f64::NAN, f64::INFINITY, 1e300]);
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, sigmoid_ref);
    assert!(err <= SIGMOID_F64_MAX_ULP, "f64 error {err} ulp at {at:e}");
    let full: Vec<f64> = sigmoid_pair(F64).run(&inputs, &inputs);
    for ((x, a), b) in inputs.iter().zip(&got).zip(&full) {
        assert!(
            a.to_bits() == b.to_bits(),
            "f64 at {x:e}: {a:e} vs sigmoid {b:e}"
        );
    }
}

#[test]
fn sigmoid_f64_matches_reference() {
    let k = sigmoid_pair(F64);
    let inputs = f64_inputs(50_000, 100_000, -750.0, 40.0, 14);
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let (err, at) = max_ulp_f64(&inputs, &got, sigmoid_ref);
    eprintln!("sigmoid f64 max ulp {err} at {at:e}");
    assert!(
        err <= SIGMOID_F64_MAX_ULP,
        "sigmoid f64 error {err} ulp at {at:e}"
    );
}

#[test]
fn special_values() {
    let x = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.0,
        -0.0,
        1e30,
        -1e30,
        -100.0,
    ];
    let t: Vec<f32> = tanh_pair(F32).run(&x, &x);
    assert_eq!(&t[..2], &[1.0, -1.0]);
    assert!(t[2].is_nan());
    assert_eq!(t[3].to_bits(), 0.0f32.to_bits());
    assert_eq!(t[4].to_bits(), (-0.0f32).to_bits());
    assert_eq!(&t[5..7], &[1.0, -1.0]);
    let s: Vec<f32> = sigmoid_pair(F32).run(&x, &x);
    assert_eq!(&s[..2], &[1.0, 0.0]);
    assert!(s[2].is_nan());
    assert_eq!((s[3], s[4], s[5], s[6]), (0.5, 0.5, 1.0, 0.0));
    assert!(
        s[7] > 0.0 && s[7] < f32::MIN_POSITIVE,
        "subnormal sigmoid(-100) = {:e} (all {s:?})",
        s[7]
    );
    let x = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 800.0, -800.0];
    let t: Vec<f64> = tanh_pair(F64).run(&x, &x);
    assert_eq!((t[0], t[1], t[3], t[4]), (1.0, -1.0, 1.0, -1.0));
    assert!(t[2].is_nan());
    let s: Vec<f64> = sigmoid_pair(F64).run(&x, &x);
    assert_eq!((s[0], s[1], s[3], s[4]), (1.0, 0.0, 1.0, 0.0));
    assert!(s[2].is_nan());
}
