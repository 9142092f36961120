//! f32x16 (AVX-512 F + DQ) versions of the tile routines: line for line the operation
//! sequences of `avx2.rs` (and so of the inline emitters) on 16 lanes, with AVX-512's mask
//! registers where AVX2 blends on a vector mask. Same constants, same fused multiply-adds,
//! same `min`/`max` operand order, so a tile computed here is bit for bit what the 128-bit
//! loop and the AVX2 routines compute (`tests/wide_routines.rs`). Kept as a second file rather
//! than one generic body: a trait over both vector types cannot carry `#[target_feature]`, and
//! without it the intrinsics would not inline.

use std::arch::x86_64::*;

use super::super::{activation, erf, exp_log};

type V = __m512;

/// 1.5·2^23 (`Lanes::round_shift` for f32).
const ROUND_SHIFT: f64 = 12582912.0;

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn splat(v: f64) -> V {
    _mm512_set1_ps(v as f32)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn ibits(x: V) -> __m512i {
    _mm512_castps_si512(x)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn fbits(i: __m512i) -> V {
    _mm512_castsi512_ps(i)
}

/// `c < x ? c : x`: a NaN `x` stays NaN (`vminps` returns its second operand on NaN).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn min_keep_nan(x: V, c: V) -> V {
    _mm512_min_ps(c, x)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn max_keep_nan(x: V, c: V) -> V {
    _mm512_max_ps(c, x)
}

/// `x < c` lane-wise, ordered (false on NaN), as `_CMP_LT_OQ` in `avx2.rs`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn less(x: V, c: V) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, c)
}

/// `mask ? a : b` lane-wise.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn select(mask: __mmask16, a: V, b: V) -> V {
    _mm512_mask_blend_ps(mask, b, a)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn horner(t: V, coeffs: &[f64]) -> V {
    let mut iter = coeffs.iter().rev();
    let mut acc = splat(*iter.next().unwrap_or(&0.0));
    for &k in iter {
        acc = _mm512_fmadd_ps(acc, t, splat(k));
    }
    acc
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp_poly(r: V, r2: V) -> V {
    let p = &exp_log::EXP_P_F32;
    let low = _mm512_fmadd_ps(splat(p[1]), r, splat(p[0]));
    let mid = _mm512_fmadd_ps(splat(p[3]), r, splat(p[2]));
    let acc = _mm512_fmadd_ps(splat(p[4]), r2, mid);
    _mm512_fmadd_ps(acc, r2, low)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp_minus_one(x: V, kf: V) -> V {
    let mut r = _mm512_fmadd_ps(kf, splat(-exp_log::LN2_HI_F32), x);
    r = _mm512_fmadd_ps(kf, splat(-exp_log::LN2_LO_F32), r);
    let r2 = _mm512_mul_ps(r, r);
    _mm512_fmadd_ps(r2, exp_poly(r, r2), r)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn power_of_two(k: __m512i) -> V {
    fbits(_mm512_slli_epi32::<23>(_mm512_add_epi32(
        k,
        _mm512_set1_epi32(127),
    )))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp16(x: V) -> V {
    let x = min_keep_nan(x, splat(100.0));
    let x = max_keep_nan(x, splat(-110.0));
    let shift = splat(ROUND_SHIFT);
    let shifted = _mm512_fmadd_ps(x, splat(std::f64::consts::LOG2_E), shift);
    let kf = _mm512_sub_ps(shifted, shift);
    let k = _mm512_sub_epi32(ibits(shifted), ibits(shift));
    let p = _mm512_add_ps(exp_minus_one(x, kf), splat(1.0));
    let halved = _mm512_srli_epi32::<1>(_mm512_add_epi32(k, _mm512_set1_epi32(4096)));
    let k1 = _mm512_sub_epi32(halved, _mm512_set1_epi32(2048));
    let k2 = _mm512_sub_epi32(k, k1);
    _mm512_mul_ps(_mm512_mul_ps(p, power_of_two(k1)), power_of_two(k2))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp_nonpositive16(x: V) -> V {
    let x = max_keep_nan(x, splat(-110.0));
    let shift = splat(ROUND_SHIFT);
    let shifted = _mm512_fmadd_ps(x, splat(std::f64::consts::LOG2_E), shift);
    let kf = _mm512_sub_ps(shifted, shift);
    let u = splat(f64::powi(2.0, -64));
    let p = _mm512_fmadd_ps(exp_minus_one(x, kf), u, u);
    let biased = _mm512_add_epi32(ibits(shifted), _mm512_set1_epi32(127 + 64));
    _mm512_mul_ps(p, fbits(_mm512_slli_epi32::<23>(biased)))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn or_sign(x: V) -> V {
    _mm512_or_ps(x, splat(-0.0))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn sigmoid16(x: V) -> V {
    let e = exp_nonpositive16(or_sign(x));
    let one = splat(1.0);
    let denom = _mm512_add_ps(one, e);
    let negative = less(x, _mm512_setzero_ps());
    _mm512_div_ps(select(negative, e, one), denom)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn sigmoid_nonnegative16(x: V) -> V {
    let e = exp_nonpositive16(or_sign(x));
    let one = splat(1.0);
    _mm512_div_ps(one, _mm512_add_ps(one, e))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn abs16(x: V) -> V {
    _mm512_andnot_ps(splat(-0.0), x)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn copysign16(x: V, s: V) -> V {
    let sign = splat(-0.0);
    _mm512_or_ps(_mm512_andnot_ps(sign, x), _mm512_and_ps(s, sign))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn tanh16(x: V) -> V {
    let z = _mm512_mul_ps(x, x);
    let ratio = horner(z, &activation::TANH_P_F32);
    let correction = _mm512_mul_ps(_mm512_mul_ps(x, z), ratio);
    let small = copysign16(_mm512_add_ps(x, correction), x);
    let ax = abs16(x);
    let e = exp16(_mm512_add_ps(ax, ax));
    let one = splat(1.0);
    let frac = _mm512_div_ps(splat(2.0), _mm512_add_ps(e, one));
    let large = copysign16(_mm512_sub_ps(one, frac), x);
    select(less(ax, splat(activation::TANH_SMALL)), small, large)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn erf16(x: V) -> V {
    let z = _mm512_mul_ps(x, x);
    let small = _mm512_mul_ps(x, horner(z, &erf::TAYLOR_F32));
    let ax = abs16(x);
    let ax_clamped = _mm512_min_ps(splat(3.92), ax);
    let scaled = _mm512_mul_ps(ax_clamped, splat(1.0 / 1.46));
    let t = _mm512_sub_ps(scaled, splat(2.46 / 1.46));
    let g = horner(t, &erf::ERFC_G_F32);
    let sq = _mm512_mul_ps(ax_clamped, ax_clamped);
    let e = exp16(_mm512_xor_ps(sq, splat(-0.0)));
    let one = splat(1.0);
    let large = copysign16(_mm512_sub_ps(one, _mm512_mul_ps(e, g)), x);
    select(less(ax, one), small, large)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn silu16(x: V) -> V {
    _mm512_mul_ps(x, sigmoid16(x))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn gelu16(x: V) -> V {
    let t = _mm512_mul_ps(x, splat(std::f64::consts::FRAC_1_SQRT_2));
    let s = _mm512_add_ps(splat(1.0), erf16(t));
    _mm512_mul_ps(_mm512_mul_ps(x, splat(0.5)), s)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn gelu_tanh16(x: V) -> V {
    let x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    let inner = _mm512_add_ps(x, _mm512_mul_ps(splat(0.044715), x3));
    let inner = _mm512_mul_ps(splat(std::f64::consts::FRAC_2_PI.sqrt()), inner);
    let s = _mm512_add_ps(splat(1.0), tanh16(inner));
    _mm512_mul_ps(_mm512_mul_ps(x, splat(0.5)), s)
}

/// Defines `extern "C" fn $name(src: *const f32, dst: *mut f32, n: u64)` applying `$f` to
/// `n` elements, a multiple of 8 as for the AVX2 routines: 16 at a time, a last 8 masked.
macro_rules! tile_routine {
    ($name:ident, $f:ident) => {
        /// # Safety
        /// `src` and `dst` hold `n` f32 each (`n` a multiple of 8) and the host has AVX-512 F
        /// and DQ.
        #[target_feature(enable = "avx512f,avx512dq")]
        pub(crate) unsafe extern "C" fn $name(src: *const f32, dst: *mut f32, n: u64) {
            let mut i = 0usize;
            while (i as u64) + 16 <= n {
                // SAFETY: the caller guarantees n elements behind both pointers.
                unsafe {
                    let x = _mm512_loadu_ps(src.add(i));
                    _mm512_storeu_ps(dst.add(i), $f(x));
                }
                i += 16;
            }
            if (i as u64) + 8 <= n {
                // SAFETY: 8 more elements; the masked load and store touch only those.
                unsafe {
                    let x = _mm512_maskz_loadu_ps(0x00ff, src.add(i));
                    _mm512_mask_storeu_ps(dst.add(i), 0x00ff, $f(x));
                }
            }
        }
    };
}

tile_routine!(exp_f32x16, exp16);
tile_routine!(sigmoid_f32x16, sigmoid16);
tile_routine!(sigmoid_nonnegative_f32x16, sigmoid_nonnegative16);
tile_routine!(tanh_f32x16, tanh16);
tile_routine!(silu_f32x16, silu16);
tile_routine!(gelu_f32x16, gelu16);
tile_routine!(gelu_tanh_f32x16, gelu_tanh16);
