//! f32x8 (AVX2 + FMA) versions of the inline f32 math emitters of [`crate::math`].
//!
//! Each function here is the same sequence of IEEE operations as its emitter in
//! `math/exp_log.rs`, `math/activation.rs`, `math/erf.rs` and `codegen/ops.rs` (same
//! constants rounded to f32, same fused multiply-adds, same comparison forms), on 8 lanes
//! instead of 4, so a tile computed here is bit for bit what the 128-bit loop computes
//! (`tests/wide_routines.rs` checks it on every routine). Only compiled into kernels on hosts
//! with both features (see [`super::enabled`]).

use std::arch::x86_64::*;

use super::super::{activation, erf, exp_log};

type V = __m256;

/// 1.5·2^23 (`Lanes::round_shift` for f32).
const ROUND_SHIFT: f64 = 12582912.0;

#[inline]
#[target_feature(enable = "avx2,fma")]
fn splat(v: f64) -> V {
    _mm256_set1_ps(v as f32)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn ibits(x: V) -> __m256i {
    _mm256_castps_si256(x)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn fbits(i: __m256i) -> V {
    _mm256_castsi256_ps(i)
}

/// `c < x ? c : x` (the emitters' `min_with_non_nan`: a NaN `x` stays NaN).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn min_keep_nan(x: V, c: V) -> V {
    _mm256_min_ps(c, x)
}

/// `x < c ? c : x` (`max_with_non_nan`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn max_keep_nan(x: V, c: V) -> V {
    _mm256_max_ps(c, x)
}

/// `mask ? a : b` lane-wise.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn select(mask: V, a: V, b: V) -> V {
    _mm256_blendv_ps(b, a, mask)
}

/// Horner's rule as `Lanes::horner`: `acc = fma(acc, t, c)` from the highest coefficient.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn horner(t: V, coeffs: &[f64]) -> V {
    let mut iter = coeffs.iter().rev();
    let mut acc = splat(*iter.next().unwrap_or(&0.0));
    for &k in iter {
        acc = _mm256_fmadd_ps(acc, t, splat(k));
    }
    acc
}

/// `Lanes::pairwise_horner` for the five exp coefficients.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp_poly(r: V, r2: V) -> V {
    let p = &exp_log::EXP_P_F32;
    let low = _mm256_fmadd_ps(splat(p[1]), r, splat(p[0]));
    let mid = _mm256_fmadd_ps(splat(p[3]), r, splat(p[2]));
    let acc = _mm256_fmadd_ps(splat(p[4]), r2, mid);
    _mm256_fmadd_ps(acc, r2, low)
}

/// e^r - 1 for r = x - k ln2 (`exp_kernel_f32_minus_one`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp_minus_one(x: V, kf: V) -> V {
    let mut r = _mm256_fmadd_ps(kf, splat(-exp_log::LN2_HI_F32), x);
    r = _mm256_fmadd_ps(kf, splat(-exp_log::LN2_LO_F32), r);
    let r2 = _mm256_mul_ps(r, r);
    _mm256_fmadd_ps(r2, exp_poly(r, r2), r)
}

/// 2^k for integer lanes k within the normal range.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn power_of_two(k: __m256i) -> V {
    fbits(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        k,
        _mm256_set1_epi32(127),
    )))
}

/// e^x with both clamps (`exp_lanes`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp8(x: V) -> V {
    let x = min_keep_nan(x, splat(100.0));
    let x = max_keep_nan(x, splat(-110.0));
    let shift = splat(ROUND_SHIFT);
    let shifted = _mm256_fmadd_ps(x, splat(std::f64::consts::LOG2_E), shift);
    let kf = _mm256_sub_ps(shifted, shift);
    let k = _mm256_sub_epi32(ibits(shifted), ibits(shift));
    let p = _mm256_add_ps(exp_minus_one(x, kf), splat(1.0));
    // floor(k/2) as (k + 4096) >> 1 - 2048, then p * 2^k1 * 2^(k - k1).
    let halved = _mm256_srli_epi32::<1>(_mm256_add_epi32(k, _mm256_set1_epi32(4096)));
    let k1 = _mm256_sub_epi32(halved, _mm256_set1_epi32(2048));
    let k2 = _mm256_sub_epi32(k, k1);
    _mm256_mul_ps(_mm256_mul_ps(p, power_of_two(k1)), power_of_two(k2))
}

/// e^x for x <= 0 or NaN (`exp_nonpositive_lanes`): the 2^-64 prescale, one scaling.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp_nonpositive8(x: V) -> V {
    let x = max_keep_nan(x, splat(-110.0));
    let shift = splat(ROUND_SHIFT);
    let shifted = _mm256_fmadd_ps(x, splat(std::f64::consts::LOG2_E), shift);
    let kf = _mm256_sub_ps(shifted, shift);
    let u = splat(f64::powi(2.0, -64));
    let p = _mm256_fmadd_ps(exp_minus_one(x, kf), u, u);
    let biased = _mm256_add_epi32(ibits(shifted), _mm256_set1_epi32(127 + 64));
    _mm256_mul_ps(p, fbits(_mm256_slli_epi32::<23>(biased)))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn or_sign(x: V) -> V {
    _mm256_or_ps(x, splat(-0.0))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn sigmoid8(x: V) -> V {
    let e = exp_nonpositive8(or_sign(x));
    let one = splat(1.0);
    let denom = _mm256_add_ps(one, e);
    let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    _mm256_div_ps(select(negative, e, one), denom)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn sigmoid_nonnegative8(x: V) -> V {
    let e = exp_nonpositive8(or_sign(x));
    let one = splat(1.0);
    _mm256_div_ps(one, _mm256_add_ps(one, e))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn abs8(x: V) -> V {
    _mm256_andnot_ps(splat(-0.0), x)
}

/// `|x|` with the sign of `s`, bitwise (`Lanes::copysign`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn copysign8(x: V, s: V) -> V {
    let sign = splat(-0.0);
    _mm256_or_ps(_mm256_andnot_ps(sign, x), _mm256_and_ps(s, sign))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn tanh8(x: V) -> V {
    let z = _mm256_mul_ps(x, x);
    let ratio = horner(z, &activation::TANH_P_F32);
    let correction = _mm256_mul_ps(_mm256_mul_ps(x, z), ratio);
    let small = copysign8(_mm256_add_ps(x, correction), x);
    let ax = abs8(x);
    let e = exp8(_mm256_add_ps(ax, ax));
    let one = splat(1.0);
    let frac = _mm256_div_ps(splat(2.0), _mm256_add_ps(e, one));
    let large = copysign8(_mm256_sub_ps(one, frac), x);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, splat(activation::TANH_SMALL));
    select(is_small, small, large)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn erf8(x: V) -> V {
    let z = _mm256_mul_ps(x, x);
    let small = _mm256_mul_ps(x, horner(z, &erf::TAYLOR_F32));
    let ax = abs8(x);
    // fmin(ax, 3.92): NaN propagates (Cranelift's `fmin`); ax is never -0 against a positive
    // constant, so the operand order below matches it.
    let ax_clamped = _mm256_min_ps(splat(3.92), ax);
    let scaled = _mm256_mul_ps(ax_clamped, splat(1.0 / 1.46));
    let t = _mm256_sub_ps(scaled, splat(2.46 / 1.46));
    let g = horner(t, &erf::ERFC_G_F32);
    let sq = _mm256_mul_ps(ax_clamped, ax_clamped);
    let e = exp8(_mm256_xor_ps(sq, splat(-0.0)));
    let one = splat(1.0);
    let large = copysign8(_mm256_sub_ps(one, _mm256_mul_ps(e, g)), x);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, one);
    select(is_small, small, large)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn silu8(x: V) -> V {
    _mm256_mul_ps(x, sigmoid8(x))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn gelu8(x: V) -> V {
    let t = _mm256_mul_ps(x, splat(std::f64::consts::FRAC_1_SQRT_2));
    let s = _mm256_add_ps(splat(1.0), erf8(t));
    _mm256_mul_ps(_mm256_mul_ps(x, splat(0.5)), s)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn gelu_tanh8(x: V) -> V {
    let x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    let inner = _mm256_add_ps(x, _mm256_mul_ps(splat(0.044715), x3));
    let inner = _mm256_mul_ps(splat(std::f64::consts::FRAC_2_PI.sqrt()), inner);
    let s = _mm256_add_ps(splat(1.0), tanh8(inner));
    _mm256_mul_ps(_mm256_mul_ps(x, splat(0.5)), s)
}

/// Defines `extern "C" fn $name(src: *const f32, dst: *mut f32, n: u64)` applying `$f` to
/// `n` elements (a multiple of 8; the kernels pass their tile size).
macro_rules! tile_routine {
    ($name:ident, $f:ident) => {
        /// # Safety
        /// `src` and `dst` hold `n` f32 each (`n` a multiple of 8) and the host has AVX2 and
        /// FMA.
        #[target_feature(enable = "avx2,fma")]
        pub(crate) unsafe extern "C" fn $name(src: *const f32, dst: *mut f32, n: u64) {
            let mut i = 0usize;
            while (i as u64) + 8 <= n {
                // SAFETY: the caller guarantees n elements behind both pointers.
                unsafe {
                    let x = _mm256_loadu_ps(src.add(i));
                    _mm256_storeu_ps(dst.add(i), $f(x));
                }
                i += 8;
            }
        }
    };
}

tile_routine!(exp_f32x8, exp8);
tile_routine!(sigmoid_f32x8, sigmoid8);
tile_routine!(sigmoid_nonnegative_f32x8, sigmoid_nonnegative8);
tile_routine!(tanh_f32x8, tanh8);
tile_routine!(silu_f32x8, silu8);
tile_routine!(gelu_f32x8, gelu8);
tile_routine!(gelu_tanh_f32x8, gelu_tanh8);
