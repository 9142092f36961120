//! Correctly rounded float narrowing (round to nearest, ties to even), as NumPy's `astype` and
//! PyTorch's `.to()` do.
//!
//! `half` 2.7's `from_f64` is not usable here: its software path drops the low 32 bits of the
//! f64 before rounding (so a value just above a tie rounds down), and with F16C it rounds to
//! f32 first (double rounding). bf16 comes from the f32 bits, as PyTorch converts; f16 comes
//! from an f32 rounded to odd, which cannot double-round.
use half::{bf16, f16};
use kiln_ir::DType;

/// `v` rounded to the nearest value of `dtype`, as an f64 (which holds it exactly).
pub fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::Bool => v,
        DType::F64 => v,
        // Truncation toward zero, as `astype(np.int64)` and `to(torch.int64)`.
        DType::I64 => kiln_ir::trunc_i64(v),
        DType::F32 => f64::from(v as f32),
        DType::F16 => f16_from_f64(v).to_f64(),
        DType::BF16 => f64::from(bf16_from_f32(v as f32).to_f32()),
    }
}

/// bf16 from an f32's bits: add half an ulp (less one when the kept part is even) and cut.
/// f64 inputs reach here through `as f32`, as `tensor.to(torch.bfloat16)` of a double does.
pub fn bf16_from_f32(v: f32) -> bf16 {
    let bits = v.to_bits();
    if v.is_nan() {
        // Keep the sign and the top payload bits, and make sure the result stays a NaN.
        return bf16::from_bits(((bits >> 16) as u16) | 0x0040);
    }
    let lsb = (bits >> 16) & 1;
    // Cannot overflow: the largest finite f32 plus 0x8000 is at most 0x7F80_7FFF (infinity's
    // bf16 pattern after the shift), and NaNs were handled above.
    bf16::from_bits((bits.wrapping_add(0x7FFF + lsb) >> 16) as u16)
}

/// f16 from an f64 through an f32 rounded to odd: with 13 spare bits, the final rounding to
/// f16's 10 sees every discarded bit (as a sticky bit) and is the correct one.
pub fn f16_from_f64(v: f64) -> f16 {
    if v.is_nan() {
        return f16::from_f32(v as f32);
    }
    let nearest = v as f32;
    if f64::from(nearest) == v {
        return f16::from_f32(nearest);
    }
    // Truncate toward zero (one step back when rounding went away from zero), then set the
    // last bit: round to odd.
    let mut bits = nearest.to_bits();
    if f64::from(nearest).abs() > v.abs() {
        bits -= 1;
    }
    f16::from_f32(f32::from_bits(bits | 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_from_the_f32_bits() {
        // Issue 12.6: the low half 0x8003 is above the tie; half's from_f64 rounded it down.
        let v = f32::from_bits(0x3f1e_8003);
        assert_eq!(bf16_from_f32(v).to_bits(), 0x3f1f);
        assert_eq!(round_to(DType::BF16, f64::from(v)), 0.621_093_75);
        // Exact ties go to even, both ways.
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f80_8000)).to_bits(), 0x3f80);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f81_8000)).to_bits(), 0x3f82);
        // Overflow to infinity, the sign of zero, NaN stays NaN.
        assert_eq!(bf16_from_f32(f32::MAX).to_bits(), 0x7f80);
        assert_eq!(bf16_from_f32(-0.0).to_bits(), 0x8000);
        assert!(bf16_from_f32(f32::from_bits(0x7f80_0001)).is_nan());
    }

    #[test]
    fn f16_from_f64_does_not_round_twice() {
        // 1 + 2^-11 is an f16 tie; a hair above it must round up, a hair below down, although
        // both round to the tie itself in f32.
        let tie = 1.0 + 2f64.powi(-11);
        assert_eq!(
            f16_from_f64(tie + 2f64.powi(-40)).to_f64(),
            1.0 + 2f64.powi(-10)
        );
        assert_eq!(f16_from_f64(tie - 2f64.powi(-40)).to_f64(), 1.0);
        assert_eq!(f16_from_f64(tie).to_f64(), 1.0);
        assert_eq!(f16_from_f64(0.1).to_bits(), 0x2e66);
        assert_eq!(f16_from_f64(1e300).to_f64(), f64::INFINITY);
        assert_eq!(f16_from_f64(-1e-300).to_bits(), 0x8000);
        assert!(f16_from_f64(f64::NAN).is_nan());
    }

    #[test]
    fn f32_is_rust_s_nearest_even_cast() {
        assert_eq!(round_to(DType::F32, 0.1), f64::from(0.1f32));
    }
}
