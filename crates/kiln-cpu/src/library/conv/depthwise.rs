//! Depthwise convolution (one input channel per group): a direct loop per output plane, each
//! kernel tap a scaled, shifted add of an input row (contiguous at stride 1, so it
//! vectorises); no GEMM, whose operands would be a single row.
use rayon::prelude::*;

use super::Geom;
use super::im2col::valid_range;
use super::kernels::Float;

/// One output plane `idx = n * c_out + o` from input plane `n * c_in + o / cog`. Inlined into
/// [`plane_avx512`], so that its row loops are compiled with 16-lane vectors there.
#[inline(always)]
fn plane<T: Float>(g: &Geom, x: &[T], w: &[T], idx: usize, out: &mut [T]) {
    let (n, o) = (idx / g.c_out, idx % g.c_out);
    let c = o / g.cog();
    let [ih, iw] = g.input;
    let [_, ow] = g.output;
    let src = &x[(n * g.c_in + c) * ih * iw..(n * g.c_in + c + 1) * ih * iw];
    let taps = &w[o * g.taps()..(o + 1) * g.taps()];
    let sw = g.stride[1];
    out.fill(T::ZERO);
    for (t, &wv) in taps.iter().enumerate() {
        let (a, b) = (t / g.kernel[1], t % g.kernel[1]);
        let offset = (b * g.dilation[1]) as isize - g.pad[1] as isize;
        let (lo, hi) = valid_range(iw, ow, sw, offset);
        for (y, dst) in out.chunks_exact_mut(ow).enumerate() {
            let Some(iy) = (y * g.stride[0] + a * g.dilation[0]).checked_sub(g.pad[0]) else {
                continue;
            };
            if iy >= ih || lo == hi {
                continue;
            }
            let row = &src[iy * iw..(iy + 1) * iw];
            let first = ((lo * sw) as isize + offset) as usize;
            if sw == 1 {
                let s = &row[first..first + (hi - lo)];
                for (d, &v) in dst[lo..hi].iter_mut().zip(s) {
                    *d = *d + v * wv;
                }
            } else {
                for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                    *d = *d + row[first + k * sw] * wv;
                }
            }
        }
    }
}

/// [`plane`] compiled for AVX-512 (the default x86-64 target has only SSE2 vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn plane_avx512<T: Float>(g: &Geom, x: &[T], w: &[T], idx: usize, out: &mut [T]) {
    plane(g, x, w, idx, out)
}

/// Every output plane, in parallel.
pub(super) fn depthwise<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        out.par_chunks_mut(g.out_plane())
            .enumerate()
            // SAFETY: the CPU has AVX-512F (detected just above), the one requirement of
            // calling a function compiled for it; the function itself is safe code.
            .for_each(|(idx, p)| unsafe { plane_avx512(g, x, w, idx, p) });
        return;
    }
    out.par_chunks_mut(g.out_plane())
        .enumerate()
        .for_each(|(idx, p)| plane(g, x, w, idx, p));
}
