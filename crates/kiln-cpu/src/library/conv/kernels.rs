//! The choice of algorithm per shape, and the per-image loops around the GEMM.
use std::ops::{Add, Mul, Sub};

use rayon::prelude::*;

use super::Geom;
use super::depthwise::depthwise;
use super::gemm::{AfterColumns, View, gemm, gemm_by_columns};
use super::im2col::{col2im, im2col, with_columns};
use super::winograd;

/// The element types the kernels compute in (f16/bf16 are widened to f32 first).
pub(crate) trait Float:
    Copy + Send + Sync + 'static + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
}

pub(crate) use crate::library::Epilogue;

/// `out = conv(x, w)` (every element written), `x`, `w`, `out` of `g`'s extents, each part
/// followed by `epilogue`.
pub(crate) fn conv<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T], epilogue: Epilogue) {
    if g.in_plane() == 0 || g.c_in == 0 {
        // Every tap reads padding (or there is nothing to sum): zeros, as PyTorch gives.
        out.fill(T::ZERO);
        return epilogue(0..out.len());
    }
    if !g.transposed && g.cig() == 1 && g.groups > 1 {
        return depthwise(g, x, w, out, epilogue);
    }
    if winograd::applies(g) {
        return winograd::winograd(g, x, w, out, epilogue);
    }
    let image_in = g.c_in * g.in_plane();
    let image_out = g.c_out * g.out_plane();
    // Enough images to keep every thread busy: one image per task, each GEMM on one thread.
    // Otherwise images run in turn and the GEMM and im2col use the whole pool.
    let per_image = g.n >= rayon::current_num_threads().max(2);
    if per_image {
        x.par_chunks(image_in)
            .zip(out.par_chunks_mut(image_out))
            .enumerate()
            .for_each(|(n, (xi, oi))| {
                with_columns(|scratch| {
                    let at = Image {
                        first: n * image_out,
                        scratch,
                        par: false,
                    };
                    image(g, xi, w, oi, at, epilogue)
                })
            });
    } else {
        with_columns(|scratch| {
            for (n, (xi, oi)) in x
                .chunks(image_in)
                .zip(out.chunks_mut(image_out))
                .enumerate()
            {
                let at = Image {
                    first: n * image_out,
                    scratch,
                    par: true,
                };
                image(g, xi, w, oi, at, epilogue);
            }
        })
    }
}

/// How one image runs: where its output starts in the whole output, its im2col scratch, and
/// whether it uses the whole pool.
struct Image<'a, T> {
    first: usize,
    scratch: &'a mut Vec<T>,
    par: bool,
}

/// A 1x1 kernel at stride 1 with no padding reads the input planes as they are.
fn is_pointwise(g: &Geom) -> bool {
    g.kernel == [1, 1] && g.stride == [1, 1] && g.input == g.output
}

/// At most about this many elements of columns per im2col block (16 MiB of f32; whole output
/// rows): bounds the scratch buffer for large images. Smaller blocks (sized for L2) measured
/// 2-3x slower here: the GEMM then repacks the weights for every narrow block.
pub(super) const BLOCK_ELEMS: usize = 1 << 22;

/// One image, group by group; im2col and GEMM go block by block of output rows.
fn image<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T], at: Image<T>, epi: Epilogue) {
    if g.transposed {
        transposed_image(g, x, w, out, at.scratch, at.par);
        return epi(at.first..at.first + out.len());
    }
    let (cig, cog, plane) = (g.cig(), g.cog(), g.out_plane());
    let [oh, ow] = g.output;
    let k = cig * g.taps();
    let in_group = cig * g.in_plane();
    let rows_per_block = (BLOCK_ELEMS / (k * ow).max(1)).max(1);
    let scratch = at.scratch;
    for grp in 0..g.groups {
        let xg = &x[grp * in_group..(grp + 1) * in_group];
        let wg = &w[grp * cog * k..(grp + 1) * cog * k];
        let og = &mut out[grp * cog * plane..(grp + 1) * cog * plane];
        let lhs = || View {
            data: wg,
            rs: k,
            cs: 1,
        };
        // Columns `j` of a GEMM whose first column is pixel `pixel0` are, for each of the
        // group's channels, one contiguous range of the output.
        let group_first = at.first + grp * cog * plane;
        let after = |pixel0: usize| {
            move |cols: std::ops::Range<usize>| {
                for c in 0..cog {
                    let start = group_first + c * plane + pixel0;
                    epi(start + cols.start..start + cols.end);
                }
            }
        };
        if is_pointwise(g) {
            let rhs = View {
                data: xg,
                rs: plane,
                cs: 1,
            };
            product((cog, plane, k), (og, plane), lhs(), rhs, at.par, &after(0));
            continue;
        }
        for y0 in (0..oh).step_by(rows_per_block) {
            let rows = y0..(y0 + rows_per_block).min(oh);
            let cols = rows.len() * ow;
            im2col(g, xg, rows, scratch, at.par);
            let rhs = View {
                data: scratch,
                rs: cols,
                cs: 1,
            };
            // Output columns y0 * ow.. of every channel row (row stride `plane`).
            let dst = (&mut og[y0 * ow..], plane);
            product((cog, cols, k), dst, lhs(), rhs, at.par, &after(y0 * ow));
        }
    }
}

/// Output bytes a column chunk of [`product`] aims at: the chunk's GEMM output stays in L2
/// for the work that follows it.
const CHUNK_BYTES: usize = 256 << 10;

/// `dst = lhs @ rhs`: on the calling thread when not `par`, else in column chunks over the
/// pool (see [`gemm_by_columns`]), `after` following each chunk on its thread.
fn product<T: Float>(
    (m, n, k): (usize, usize, usize),
    dst: (&mut [T], usize),
    lhs: View<T>,
    rhs: View<T>,
    par: bool,
    after: AfterColumns,
) {
    let threads = rayon::current_num_threads();
    let by_cache = CHUNK_BYTES / (m.max(1) * std::mem::size_of::<T>());
    let chunk = by_cache
        .min(n.div_ceil(2 * threads))
        .max(64)
        .next_multiple_of(16);
    if par && n.div_ceil(chunk) >= threads {
        return gemm_by_columns((m, n, k), dst, lhs, rhs, chunk, after);
    }
    // Too few columns to share out (a 7x7 image): the GEMM splits its rows over the pool.
    gemm((m, n, k), dst.0, dst.1, lhs, rhs, par);
    after(0..n)
}

/// One image of a transposed convolution: per group, the columns `w_g^T @ x_g` (`cog * taps`
/// rows of input planes) and their col2im into the output planes.
fn transposed_image<T: Float>(
    g: &Geom,
    x: &[T],
    w: &[T],
    out: &mut [T],
    scratch: &mut Vec<T>,
    par: bool,
) {
    let (cig, cog) = (g.cig(), g.cog());
    let (in_plane, rows) = (g.in_plane(), cog * g.taps());
    scratch.resize(rows * in_plane, T::ZERO);
    for grp in 0..g.groups {
        // w is (c_in, cog, taps): the group's (cig x rows) block, read transposed.
        let lhs = View {
            data: &w[grp * cig * rows..(grp + 1) * cig * rows],
            rs: 1,
            cs: rows,
        };
        let rhs = View {
            data: &x[grp * cig * in_plane..(grp + 1) * cig * in_plane],
            rs: in_plane,
            cs: 1,
        };
        gemm((rows, in_plane, cig), scratch, in_plane, lhs, rhs, par);
        let og = &mut out[grp * cog * g.out_plane()..(grp + 1) * cog * g.out_plane()];
        col2im(g, scratch, og, par);
    }
}
