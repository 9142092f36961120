//! bf16/f16 <-> f32 conversions against the `half` crate (exhaustive on 16-bit inputs).

mod math_harness;

use cranelift_codegen::ir::types::{F32, I32};
use half::{bf16, f16};
use kiln_cpu::math;
use math_harness::{Pair, f32_inputs, pow2_f32};

fn all_patterns() -> Vec<u32> {
    (0..=u32::from(u16::MAX)).collect()
}

#[test]
fn bf16_to_f32_is_exact_for_every_pattern() {
    let k = Pair::new(I32, F32, 1, |b, a| math::bf16_bits_to_f32(b, a[0]));
    let bits = all_patterns();
    let got: Vec<f32> = k.run(&bits, &bits);
    for (&h, &g) in bits.iter().zip(&got) {
        // bf16 is the top half of an f32: the widening is a shift, NaN payloads included
        // (`half` quiets signalling NaNs, so compare numbers with it and bits with the shift).
        let want = bf16::from_bits(h as u16).to_f32();
        assert_eq!(g.to_bits(), h << 16, "bf16 {h:#06x}");
        assert!(
            g == want || (g.is_nan() && want.is_nan()),
            "bf16 {h:#06x}: got {g:e}, want {want:e}"
        );
    }
}

#[test]
fn f16_to_f32_is_exact_for_every_pattern() {
    let k = Pair::new(I32, F32, 1, |b, a| math::f16_bits_to_f32(b, a[0]));
    let bits = all_patterns();
    let got: Vec<f32> = k.run(&bits, &bits);
    for (&h, &g) in bits.iter().zip(&got) {
        let want = f16::from_bits(h as u16).to_f32();
        let same = g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan());
        assert!(same, "f16 {h:#06x}: got {g:e}, want {want:e}");
    }
}

/// Inputs covering every f32 binade, random patterns, f16 rounding ties and the f16
/// overflow and subnormal boundaries.
fn f32_cases() -> Vec<f32> {
    let mut v = f32_inputs(300_000, 100_000, -70_000.0, 70_000.0, 41);
    v.extend([
        65504.0,
        65519.99,
        65520.0,
        -65520.0,
        pow2_f32(-24),
        pow2_f32(-25),
        pow2_f32(-26),
    ]);
    // Exact ties between neighbouring f16 / bf16 values.
    for h in (0u16..0x7c00).step_by(7) {
        let lo = f16::from_bits(h).to_f32();
        let hi = f16::from_bits(h + 1).to_f32();
        v.push((lo + hi) / 2.0);
        v.push(-(lo + hi) / 2.0);
    }
    v.extend(
        (0..0x7f80u32)
            .step_by(3)
            .map(|h| f32::from_bits((h << 16) | 0x8000)),
    );
    v
}

/// Runs the f32 -> 16-bit kernel `k` on `f32_cases()` and checks every result against
/// `want` (the bits the `half` crate rounds to); any NaN matches any NaN, as payloads may
/// differ.
fn assert_narrows_like(k: Pair, want: impl Fn(f32) -> u16, is_nan: impl Fn(u16) -> bool) {
    let x = f32_cases();
    let got: Vec<u32> = k.run(&x, &x);
    for (&x, &g) in x.iter().zip(&got) {
        let want = want(x);
        assert!(g <= 0xffff, "upper bits must be zero: {g:#x}");
        let g16 = g as u16;
        let same = g16 == want || (is_nan(g16) && is_nan(want));
        assert!(same, "f32 {x:e}: got {g:#06x}, want {want:#06x}");
    }
}

#[test]
fn f32_to_f16_rounds_to_nearest_even() {
    assert_narrows_like(
        Pair::new(F32, I32, 1, |b, a| math::f32_to_f16_bits(b, a[0])),
        |x| f16::from_f32(x).to_bits(),
        |bits| f16::from_bits(bits).is_nan(),
    );
}

#[test]
fn f32_to_bf16_rounds_to_nearest_even() {
    assert_narrows_like(
        Pair::new(F32, I32, 1, |b, a| math::f32_to_bf16_bits(b, a[0])),
        |x| bf16::from_f32(x).to_bits(),
        |bits| bf16::from_bits(bits).is_nan(),
    );
}

#[test]
fn scalar_i16_input_is_accepted() {
    use cranelift_codegen::ir::InstBuilder;
    use cranelift_codegen::ir::types::I16;
    // Narrow the I32 lane to I16 first, as a kernel loading 16-bit memory would have it.
    let k = math_harness::compile(I32, F32, 1, 1, |b, a| {
        let narrow = b.ins().ireduce(I16, a[0]);
        math::f16_bits_to_f32(b, narrow)
    });
    let bits = [0x3c00u32, 0xc000, 0x0001];
    let got: Vec<f32> = k.run(&bits, &bits);
    assert_eq!(got, vec![1.0, -2.0, pow2_f32(-24)]);
}

#[test]
fn unsupported_types_are_errors_not_panics() {
    let k = math_harness::compile(F32, F32, 1, 1, |b, a| {
        let err = math::f16_bits_to_f32(b, a[0]).expect_err("F32 is not a bit pattern");
        assert!(err.to_string().contains("f16_bits_to_f32"), "{err}");
        let probe = err_probe(b);
        let err = math::exp(b, probe).expect_err("I32 is not a float");
        assert!(err.to_string().contains("exp"), "{err}");
        Ok(a[0])
    });
    let x = [1.5f32];
    let y: Vec<f32> = k.run(&x, &x);
    assert_eq!(y, vec![1.5]);
}

fn err_probe(b: &mut cranelift_frontend::FunctionBuilder) -> cranelift_codegen::ir::Value {
    use cranelift_codegen::ir::InstBuilder;
    b.ins().iconst(I32, 7)
}
