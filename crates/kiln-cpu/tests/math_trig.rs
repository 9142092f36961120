//! Accuracy and special values of `math::sin` and `math::cos` against libm.

mod math_harness;

use cranelift_codegen::ir::Type;
use cranelift_codegen::ir::types::{F32, F64};
use kiln_cpu::math;
use math_harness::{Pair, Rng, max_ulp_f32, max_ulp_f64};

/// Documented bounds (see `math/mod.rs`), in ulps, over the whole range.
const TRIG_F32_MAX_ULP: u64 = 1;
const TRIG_F64_MAX_ULP: u64 = 1;

fn pair(ty: Type, sine: bool) -> Pair {
    if sine {
        Pair::new(ty, ty, 1, |b, a| math::sin(b, a[0]))
    } else {
        Pair::new(ty, ty, 1, |b, a| math::cos(b, a[0]))
    }
}

/// Uniform samples on several scales up to 1e5, plus values next to multiples of pi/2.
fn domain(count: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = Vec::with_capacity(count * 4);
    for bound in [1.0, 10.0, 1e3, 1e5] {
        v.extend((0..count).map(|_| rng.uniform(-bound, bound)));
    }
    v.extend((0..60_000).map(|k| f64::from(k) * std::f64::consts::FRAC_PI_2));
    v.extend((-300..0).map(|e| 2f64.powi(e)));
    v
}

/// The whole finite range: random bit patterns, every power of two with its neighbours, and
/// large multiples of pi/2 (where the reduced argument is smallest). f32 inputs come from
/// f32 bit patterns (random f64 patterns are mostly outside f32's range).
fn whole_range_f64(count: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = (0..count)
        .map(|_| f64::from_bits(rng.next_u64()))
        .filter(|x| x.is_finite())
        .collect();
    for e in 1..2047u64 {
        let p = f64::from_bits(e << 52);
        v.extend([
            p,
            -p,
            f64::from_bits(p.to_bits() + 1),
            f64::from_bits(p.to_bits() - 1),
        ]);
    }
    for e in 0..1020 {
        let m = (2f64.powi(e) / std::f64::consts::FRAC_PI_2).round();
        v.push(m * std::f64::consts::FRAC_PI_2);
    }
    v.push(f64::MAX);
    v
}

fn whole_range_f32(count: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..count)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .filter(|x| x.is_finite())
        .collect();
    for e in 1..255u32 {
        let p = f32::from_bits(e << 23);
        v.extend([
            p,
            -p,
            f32::from_bits(p.to_bits() + 1),
            f32::from_bits(p.to_bits() - 1),
        ]);
    }
    for e in 0..127 {
        v.push((2f64.powi(e) / std::f64::consts::FRAC_PI_2).round() as f32);
    }
    v.push(f32::MAX);
    v
}

fn check_f32(sine: bool) -> u64 {
    let k = pair(F32, sine);
    let mut inputs: Vec<f32> = domain(60_000, 21).into_iter().map(|x| x as f32).collect();
    inputs.extend(whole_range_f32(200_000, 23));
    let got: Vec<f32> = k.run(&inputs, &inputs);
    let reference = |x: f32| {
        if sine {
            f64::from(x).sin() as f32
        } else {
            f64::from(x).cos() as f32
        }
    };
    let (err, at) = max_ulp_f32(&inputs, &got, reference);
    eprintln!(
        "{} f32 max ulp {err} at {at:e}",
        if sine { "sin" } else { "cos" }
    );
    err
}

fn check_f64(sine: bool) -> u64 {
    let k = pair(F64, sine);
    let mut inputs = domain(40_000, 22);
    inputs.extend(whole_range_f64(200_000, 24));
    let got: Vec<f64> = k.run(&inputs, &inputs);
    let reference = |x: f64| if sine { x.sin() } else { x.cos() };
    let (err, at) = max_ulp_f64(&inputs, &got, reference);
    eprintln!(
        "{} f64 max ulp {err} at {at:e}",
        if sine { "sin" } else { "cos" }
    );
    err
}

#[test]
fn sin_f32_matches_libm() {
    assert!(check_f32(true) <= TRIG_F32_MAX_ULP);
}

#[test]
fn cos_f32_matches_libm() {
    assert!(check_f32(false) <= TRIG_F32_MAX_ULP);
}

#[test]
fn sin_f64_matches_libm() {
    assert!(check_f64(true) <= TRIG_F64_MAX_ULP);
}

#[test]
fn cos_f64_matches_libm() {
    assert!(check_f64(false) <= TRIG_F64_MAX_ULP);
}

#[test]
fn special_values() {
    let x = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0];
    let s: Vec<f32> = pair(F32, true).run(&x, &x);
    assert!(s[0].is_nan() && s[1].is_nan() && s[2].is_nan());
    assert_eq!((s[3].to_bits(), s[4].to_bits()), (0, (-0.0f32).to_bits()));
    let c: Vec<f32> = pair(F32, false).run(&x, &x);
    assert!(c[0].is_nan() && c[1].is_nan() && c[2].is_nan());
    assert_eq!((c[3], c[4]), (1.0, 1.0));
    let x = [f64::INFINITY, f64::NAN, -0.0];
    let s: Vec<f64> = pair(F64, true).run(&x, &x);
    assert!(s[0].is_nan() && s[1].is_nan());
    assert_eq!(s[2].to_bits(), (-0.0f64).to_bits());
    let c: Vec<f64> = pair(F64, false).run(&x, &x);
    assert!(c[0].is_nan() && c[1].is_nan());
    assert_eq!(c[2], 1.0);
}
