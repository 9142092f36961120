//! The gradients of a depthwise convolution (one input channel per group) as direct loops,
//! mirroring [`super::depthwise`]: a GEMM per group would have a single row (measured 9-20x
//! slower than PyTorch on MobileNetV2's 3x3 layer, `examples/conv_grad_bench.rs`).
use rayon::prelude::*;

use super::Geom;
use super::im2col::valid_range;
use super::kernels::Float;

/// The input row read by output row `y` at kernel row `a`, if inside the input.
fn input_row(g: &Geom, y: usize, a: usize) -> Option<usize> {
    let iy = (y * g.stride[0] + a * g.dilation[0]).checked_sub(g.pad[0])?;
    (iy < g.input[0]).then_some(iy)
}

/// `gx`: each input plane `(n, c)` gathers the scaled, shifted rows of its `cog` output
/// planes' gradients, one kernel tap at a time.
pub(super) fn input_grad<T: Float>(g: &Geom, gy: &[T], w: &[T], gx: &mut [T]) {
    if g.in_plane() == 0 {
        return;
    }
    let ([_, iw], [oh, ow]) = (g.input, g.output);
    let (cog, taps, sw) = (g.cog(), g.taps(), g.stride[1]);
    gx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(idx, plane)| {
            let (n, c) = (idx / g.c_in, idx % g.c_in);
            plane.fill(T::ZERO);
            for o in c * cog..(c + 1) * cog {
                let src = &gy[(n * g.c_out + o) * oh * ow..(n * g.c_out + o + 1) * oh * ow];
                for (t, &wv) in w[o * taps..(o + 1) * taps].iter().enumerate() {
                    let (a, b) = (t / g.kernel[1], t % g.kernel[1]);
                    let offset = (b * g.dilation[1]) as isize - g.pad[1] as isize;
                    let (lo, hi) = valid_range(iw, ow, sw, offset);
                    if lo == hi {
                        continue;
                    }
                    // Inside lo..hi, `xo * sw + offset` is in 0..iw.
                    let first = ((lo * sw) as isize + offset) as usize;
                    for y in 0..oh {
                        let Some(iy) = input_row(g, y, a) else {
                            continue;
                        };
                        let dst = &mut plane[iy * iw..(iy + 1) * iw];
                        let s = &src[y * ow + lo..y * ow + hi];
                        if sw == 1 {
                            // Contiguous on both sides: a vectorisable axpy.
                            for (d, &v) in dst[first..first + s.len()].iter_mut().zip(s) {
                                *d = *d + v * wv;
                            }
                            continue;
                        }
                        for (k, &v) in s.iter().enumerate() {
                            let d = &mut dst[first + k * sw];
                            *d = *d + v * wv;
                        }
                    }
                }
            }
        });
}

/// `gw`: each tap of output channel `o` is the dot product of `o`'s gradient planes with the
/// input plane shifted by the tap, over the images.
pub(super) fn weight_grad<T: Float>(g: &Geom, x: &[T], gy: &[T], gw: &mut [T]) {
    let ([_, iw], [oh, ow]) = (g.input, g.output);
    let (cog, sw) = (g.cog(), g.stride[1]);
    let (in_plane, out_plane) = (g.in_plane(), g.out_plane());
    gw.par_chunks_mut(g.taps())
        .enumerate()
        .for_each(|(o, taps)| {
            let c = o / cog;
            for (t, acc) in taps.iter_mut().enumerate() {
                let (a, b) = (t / g.kernel[1], t % g.kernel[1]);
                let offset = (b * g.dilation[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_range(iw, ow, sw, offset);
                let mut sum = T::ZERO;
                if lo < hi {
                    let first = ((lo * sw) as isize + offset) as usize;
                    for n in 0..g.n {
                        let xp = &x[(n * g.c_in + c) * in_plane..(n * g.c_in + c + 1) * in_plane];
                        let gp =
                            &gy[(n * g.c_out + o) * out_plane..(n * g.c_out + o + 1) * out_plane];
                        for y in 0..oh {
                            let Some(iy) = input_row(g, y, a) else {
                                continue;
                            };
                            let row = &xp[iy * iw..(iy + 1) * iw];
                            let s = &gp[y * ow + lo..y * ow + hi];
                            if sw == 1 {
                                sum = sum + dot(s, &row[first..first + s.len()]);
                                continue;
                            }
                            for (k, &v) in s.iter().enumerate() {
                                sum = sum + v * row[first + k * sw];
                            }
                        }
                    }
                }
                *acc = sum;
            }
        });
}

/// `a . b` in 8 independent partial sums, so that the loop vectorises (one running sum is a
/// dependency chain the compiler may not reorder).
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .fold(T::ZERO, |s, (&x, &y)| s + x * y);
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] = acc[i] + x[i] * y[i];
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}
