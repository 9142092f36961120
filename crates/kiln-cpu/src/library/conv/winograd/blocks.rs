//! Block mode: the output in blocks of whole tile rows of one image, each block on one thread
//! with its transformed input and GEMM outputs in that core's L2 (many tiles per call).
use rayon::prelude::*;

use super::super::Geom;
use super::super::gemm::{View, gemm};
use super::super::kernels::{Epilogue, Float};
use super::transform::{OutputRows, input_tile_row, output_tile_row};
use super::{BLOCK_BYTES, Scratch, XI, u_matrix, with_scratch};

/// Tile rows per block: [`BLOCK_BYTES`] of them, but at least two blocks per thread when the
/// images allow (one block per image of a small batch would leave threads idle).
fn tile_rows(g: &Geom, elem: usize) -> usize {
    let per_tile = XI * (g.c_in + g.c_out) * elem;
    let [th, tw] = [g.output[0].div_ceil(2), g.output[1].div_ceil(2)];
    let by_cache = (BLOCK_BYTES / (per_tile * tw).max(1)).max(1);
    let want_blocks = 2 * rayon::current_num_threads();
    let per_image = want_blocks.div_ceil(g.n.max(1));
    by_cache.min(th.div_ceil(per_image)).max(1)
}

/// `out = conv(x, w)` from the transformed weights `u`, block by block over the pool, each
/// block followed by `epilogue` on the output rows it wrote.
pub(super) fn by_blocks<T: Float>(g: &Geom, x: &[T], u: &[T], out: &mut [T], epilogue: Epilogue) {
    let th = g.output[0].div_ceil(2);
    let rows = tile_rows(g, std::mem::size_of::<T>());
    // (image, first tile row, end tile row) of every block.
    let blocks: Vec<(usize, usize, usize)> = (0..g.n)
        .flat_map(|n| {
            (0..th)
                .step_by(rows)
                .map(move |t| (n, t, (t + rows).min(th)))
        })
        .collect();
    let out_image = g.c_out * g.out_plane();
    assert_eq!(out.len(), g.n * out_image, "winograd: output size");
    let shared = SharedOut(out.as_mut_ptr(), out.len());
    let block = block_fn::<T>();
    blocks.into_par_iter().for_each(|(n, ty0, ty1)| {
        with_scratch(|s: &mut Scratch<T>| {
            let x_image = &x[n * g.c_in * g.in_plane()..(n + 1) * g.c_in * g.in_plane()];
            let [oh, ow] = g.output;
            let mut rows = BlockRows {
                out: shared,
                image: n * out_image,
                plane: g.out_plane(),
                c_out: g.c_out,
                width: ow,
                rows: 2 * ty0..(2 * ty1).min(oh),
            };
            block(g, x_image, u, &mut rows, (ty0, ty1), s);
            let (y0, y1) = (rows.rows.start * ow, rows.rows.end * ow);
            for o in 0..g.c_out {
                let at = n * out_image + o * g.out_plane();
                epilogue(at + y0..at + y1);
            }
        })
    });
}

/// [`block`] with the transforms' loops compiled for AVX2 (the default x86-64 target has only
/// SSE2 vectors; the transforms measured 1.3x faster 8 wide).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_avx2<T: Float>(
    g: &Geom,
    x: &[T],
    u: &[T],
    out: &mut BlockRows<T>,
    tiles: (usize, usize),
    s: &mut Scratch<T>,
) {
    block(g, x, u, out, tiles, s)
}

type BlockFn<T> = fn(&Geom, &[T], &[T], &mut BlockRows<T>, (usize, usize), &mut Scratch<T>);

/// The fastest copy of [`block`] this CPU runs.
fn block_fn<T: Float>() -> BlockFn<T> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: chosen only when the CPU has AVX2, the one requirement of calling the copy
        // compiled for it; the function is safe code.
        return |g, x, u, o, t, s| unsafe { block_avx2(g, x, u, o, t, s) };
    }
    block
}

/// One block: tile rows `ty0..ty1` of one image (`x` its input planes, `out` its output
/// planes).
#[inline(always)]
fn block<T: Float>(
    g: &Geom,
    x: &[T],
    u: &[T],
    out: &mut BlockRows<T>,
    (ty0, ty1): (usize, usize),
    s: &mut Scratch<T>,
) {
    let tw = g.output[1].div_ceil(2);
    let tiles = (ty1 - ty0) * tw;
    let (ci, co) = (g.c_in, g.c_out);
    s.v.resize(XI * ci * tiles, T::ZERO);
    s.m.resize(XI * co * tiles, T::ZERO);
    for c in 0..ci {
        let plane = &x[c * g.in_plane()..(c + 1) * g.in_plane()];
        for ty in ty0..ty1 {
            let first = c * tiles + (ty - ty0) * tw;
            input_tile_row(g, plane, ty, &mut s.rows, &mut s.v, (first, ci * tiles));
        }
    }
    for xi in 0..XI {
        let lhs = u_matrix(g, u, xi);
        let rhs = View {
            data: &s.v[xi * ci * tiles..(xi + 1) * ci * tiles],
            rs: tiles,
            cs: 1,
        };
        let dst = &mut s.m[xi * co * tiles..(xi + 1) * co * tiles];
        gemm((co, tiles, ci), dst, tiles, lhs, rhs, false);
    }
    for o in 0..co {
        for ty in ty0..ty1 {
            let first = o * tiles + (ty - ty0) * tw;
            output_tile_row(g, &s.m, (first, co * tiles), (o, ty), out, &mut s.rows);
        }
    }
}

/// The output pointer, shared by blocks that write disjoint rows.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T, usize);
// SAFETY: blocks write disjoint rows through it (see `BlockRows::row`).
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

/// The output rows one block writes: rows `rows` of every channel plane of one image. No two
/// blocks share a row, so each row handed out is borrowed by this block alone.
struct BlockRows<T> {
    out: SharedOut<T>,
    /// The image's first element in the output.
    image: usize,
    plane: usize,
    c_out: usize,
    width: usize,
    rows: std::ops::Range<usize>,
}

impl<T> OutputRows<T> for BlockRows<T> {
    /// Output row `y` of channel `o`: only this block's rows, inside the output.
    fn row(&mut self, o: usize, y: usize) -> &mut [T] {
        assert!(
            o < self.c_out && self.rows.contains(&y),
            "winograd: row outside the block"
        );
        let start = self.image + o * self.plane + y * self.width;
        assert!(
            start + self.width <= self.out.1,
            "winograd: row outside the output"
        );
        // SAFETY: inside the output (above); blocks own disjoint rows, and `&mut self` keeps
        // one row of this block borrowed at a time.
        unsafe { std::slice::from_raw_parts_mut(self.out.0.add(start), self.width) }
    }
}
