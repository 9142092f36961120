//! Winograd F(2x2, 3x3): a 3x3 stride-1 convolution in 16 GEMMs of 2.25x fewer multiply-adds
//! than im2col's one.
//!
//! Each 2x2 block ("tile") of the output is computed from the 4x4 input patch under it as
//! `Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A` (Lavin and Gray, 2015), `.` elementwise:
//! the 16 positions `xi` of the 4x4 transformed domain are independent, so for each one the
//! sum over input channels is a GEMM `M[xi] (c_out x tiles) = U[xi] (c_out x c_in) @ V[xi]
//! (c_in x tiles)`. The transforms of F(2x2, 3x3) use only additions and halvings, exact in
//! binary floating point, so the result differs from a direct convolution by the rounding of a
//! different order of additions (about 1e-7 of the output's scale in f32), like any other
//! GEMM blocking.
//!
//! The output is computed in blocks of whole tile rows of one image (see [`tile_rows`]), each
//! block on one thread: its input transform, its 16 single-threaded GEMMs and its output
//! transform stay in that core's L2, and the epilogue runs on the rows it wrote.
use rayon::prelude::*;

use super::Geom;
use super::gemm::{View, gemm};
use super::kernels::{Epilogue, Float};

/// Positions of the transformed 4x4 domain: one GEMM each.
const XI: usize = 16;

/// Whether `g` is a convolution this module computes, and computes faster than im2col: 3x3,
/// stride 1, no dilation, one group, channels enough for the GEMMs, and tiles enough to pay for
/// transforming the weights on every call (`U` is 16/9 the weights' size).
pub(super) fn applies(g: &Geom) -> bool {
    let shape = !g.transposed
        && g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1;
    shape && g.c_in >= 16 && g.c_out >= 16 && tiles(g) >= MIN_TILES
}

fn tiles(g: &Geom) -> usize {
    g.n * g.output[0].div_ceil(2) * g.output[1].div_ceil(2)
}

/// The fewest tiles (per call) for which Winograd beats im2col here: below it the weight
/// transform (16 values per (output, input) channel pair, written and read once per call) and
/// the short GEMMs cost more than the multiply-adds saved. Measured with `conv_bench` on
/// 2 cores: a 14x14 image at batch 1 (49 tiles) ran 0.7-1.0x im2col, 7x7 at batch 8 (128
/// tiles) 0.6-1.0x, 28x28 and above at batch 1 (196+ tiles) 1.3-1.6x.
const MIN_TILES: usize = 196;

/// Bytes of transformed input and GEMM output (`16 * (c_in + c_out)` values a tile) a block
/// aims at: about a core's L2 (1 MiB here; 256-2048 KiB measured within noise of each other
/// at batch 8, 512-1024 best at batch 1).
const BLOCK_BYTES: usize = 1 << 20;

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

/// `out = conv(x, w)` for a `g` that [`applies`], each block followed by `epilogue` on the
/// output rows it wrote.
pub(super) fn winograd<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T], epilogue: Epilogue) {
    let u = transform_weights(g, w);
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
            block(g, x_image, &u, &mut rows, (ty0, ty1), s);
            let (y0, y1) = (rows.rows.start * ow, rows.rows.end * ow);
            for o in 0..g.c_out {
                let at = n * out_image + o * g.out_plane();
                epilogue(at + y0..at + y1);
            }
        })
    });
}

/// Scratch buffers up to this many bytes stay with their thread between calls; larger ones
/// (wide images of many channels) are freed after the call.
const KEEP_SCRATCH_BYTES: usize = 4 << 20;

thread_local! {
    /// This thread's [`Scratch`] from its last block, of whichever element type it was.
    static SCRATCH: std::cell::RefCell<Option<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread's scratch buffers for `T`: reused from earlier blocks and calls,
/// so that a call neither allocates nor zeroes them once per block.
fn with_scratch<T: Float, R>(f: impl FnOnce(&mut Scratch<T>) -> R) -> R {
    let kept = SCRATCH.with(|c| c.borrow_mut().take());
    let mut s = kept
        .and_then(|b| b.downcast::<Scratch<T>>().ok())
        .map_or_else(Scratch::default, |b| *b);
    let r = f(&mut s);
    let bytes = (s.v.capacity() + s.m.capacity() + s.rows.capacity()) * std::mem::size_of::<T>();
    if bytes <= KEEP_SCRATCH_BYTES {
        SCRATCH.with(|c| *c.borrow_mut() = Some(Box::new(s)));
    }
    r
}

/// Per-thread buffers, reused across the blocks a thread computes.
struct Scratch<T> {
    /// `V`: `16 x c_in x tiles`.
    v: Vec<T>,
    /// `M`: `16 x c_out x tiles`.
    m: Vec<T>,
    /// Four zero-padded input rows, then their row transform.
    rows: Vec<T>,
}

impl<T> Default for Scratch<T> {
    fn default() -> Self {
        Scratch {
            v: Vec::new(),
            m: Vec::new(),
            rows: Vec::new(),
        }
    }
}

/// `U[xi] = (G g G^T)[xi]` for every (output, input) channel pair, as 16 row-major
/// `c_out x c_in` matrices.
#[inline(never)]
fn transform_weights<T: Float>(g: &Geom, w: &[T]) -> Vec<T> {
    let (co, ci) = (g.c_out, g.c_in);
    let mut u = vec![T::ZERO; XI * co * ci];
    let per_xi = co * ci;
    // Rows of `u` by output channel: each task fills its channel's row of every matrix.
    let mut by_out: Vec<Vec<T>> = (0..co)
        .into_par_iter()
        .map(|o| {
            let mut row = vec![T::ZERO; XI * ci];
            for c in 0..ci {
                let k = &w[(o * ci + c) * 9..(o * ci + c + 1) * 9];
                let t = kernel_transform(k);
                for (xi, v) in t.into_iter().enumerate() {
                    row[xi * ci + c] = v;
                }
            }
            row
        })
        .collect();
    for (o, row) in by_out.iter_mut().enumerate() {
        for xi in 0..XI {
            u[xi * per_xi + o * ci..xi * per_xi + (o + 1) * ci]
                .copy_from_slice(&row[xi * ci..(xi + 1) * ci]);
        }
    }
    u
}

/// `G k G^T` for one 3x3 kernel `k` (row-major), `G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]]`.
fn kernel_transform<T: Float>(k: &[T]) -> [T; XI] {
    let h = T::HALF;
    let col = |a: T, b: T, c: T| [a, h * (a + b + c), h * (a - b + c), c];
    // G k: 4 rows of 3.
    let mut gk = [[T::ZERO; 3]; 4];
    for j in 0..3 {
        let c = col(k[j], k[3 + j], k[6 + j]);
        for i in 0..4 {
            gk[i][j] = c[i];
        }
    }
    let mut u = [T::ZERO; XI];
    for i in 0..4 {
        let r = col(gk[i][0], gk[i][1], gk[i][2]);
        u[i * 4..i * 4 + 4].copy_from_slice(&r);
    }
    u
}

/// [`block`] with the transforms' loops compiled for AVX2 (the default x86-64 target has only
/// SSE2 vectors, and the transforms' stride-2 reads need AVX2's shuffles to vectorise well).
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
        let lhs = View {
            data: &u[xi * co * ci..(xi + 1) * co * ci],
            rs: ci,
            cs: 1,
        };
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

/// `B^T d B` of every tile of tile row `ty` of one input plane, into `v[first + xi * stride +
/// tx]`. `B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]`.
///
/// Tile `tx` reads the padded columns `2tx..2tx+4`; the four input rows are copied split into
/// their even and odd padded columns (`E`, `O`, `tw + 1` each), so that every loop after the
/// copy reads consecutive elements and vectorises.
#[inline(always)]
fn input_tile_row<T: Float>(
    g: &Geom,
    plane: &[T],
    ty: usize,
    rows: &mut Vec<T>,
    v: &mut [T],
    (first, stride): (usize, usize),
) {
    let [ih, iw] = g.input;
    let tw = g.output[1].div_ceil(2);
    let half = tw + 1;
    rows.clear();
    rows.resize(8 * half, T::ZERO);
    for r in 0..4 {
        let Some(iy) = (2 * ty + r).checked_sub(g.pad[0]).filter(|&iy| iy < ih) else {
            continue;
        };
        // Padded column j is input column j - pad[1]; the row has 2 * half padded columns.
        let src = &plane[iy * iw..(iy + 1) * iw];
        let src = &src[..iw.min((2 * half).saturating_sub(g.pad[1]))];
        let (even, odd) = rows[r * 2 * half..(r + 1) * 2 * half].split_at_mut(half);
        deinterleave(src, g.pad[1], even, odd);
    }
    // B^T d over rows, whole rows at once: t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1,
    // t3 = d1 - d3.
    let (d0, rest) = rows.split_at_mut(2 * half);
    let (d1, rest) = rest.split_at_mut(2 * half);
    let (d2, d3) = rest.split_at_mut(2 * half);
    for j in 0..2 * half {
        let (a, b, c, d) = (d0[j], d1[j], d2[j], d3[j]);
        (d0[j], d1[j], d2[j], d3[j]) = (a - c, b + c, c - b, b - d);
    }
    // Then `. B` over each tile's columns 2tx..2tx+4: E[tx], O[tx], E[tx+1], O[tx+1].
    for (k, t) in [&*d0, &*d1, &*d2, &*d3].into_iter().enumerate() {
        let (e, o) = t.split_at(half);
        let (e0, e1, o0, o1) = (&e[..tw], &e[1..], &o[..tw], &o[1..]);
        let at = |l: usize| (k * 4 + l) * stride + first;
        let dst = &mut v[at(0)..at(0) + tw];
        for ((d, &a), &c) in dst.iter_mut().zip(e0).zip(e1) {
            *d = a - c;
        }
        let dst = &mut v[at(1)..at(1) + tw];
        for ((d, &b), &c) in dst.iter_mut().zip(o0).zip(e1) {
            *d = b + c;
        }
        let dst = &mut v[at(2)..at(2) + tw];
        for ((d, &b), &c) in dst.iter_mut().zip(o0).zip(e1) {
            *d = c - b;
        }
        let dst = &mut v[at(3)..at(3) + tw];
        for ((d, &b), &dd) in dst.iter_mut().zip(o0).zip(o1) {
            *d = b - dd;
        }
    }
}

/// Scatters `src` to padded columns `at..at + src.len()` of a row split into its even
/// (`even[j]` is column `2j`) and odd columns; the caller zeroed both and made room.
#[inline(always)]
fn deinterleave<T: Float>(src: &[T], at: usize, even: &mut [T], odd: &mut [T]) {
    let (mut src, mut j) = (src, at / 2);
    if at % 2 == 1 {
        // The first element is an odd column; the pairs after it start on an even one.
        let Some((&first, rest)) = src.split_first() else {
            return;
        };
        odd[j] = first;
        (src, j) = (rest, j + 1);
    }
    let pairs = src.chunks_exact(2);
    if let [last] = pairs.remainder() {
        even[j + src.len() / 2] = *last;
    }
    let n = src.len() / 2;
    for ((e, o), p) in even[j..j + n].iter_mut().zip(&mut odd[j..j + n]).zip(pairs) {
        (*e, *o) = (p[0], p[1]);
    }
}

/// `A^T m A` of every tile of tile row `ty` of output channel `o`, `m[xi]` at `m[first + xi *
/// stride + tx]`, written into `out` (tiles past the edge write only their inside part).
/// `A^T = [[1,1,1,0],[0,1,-1,-1]]`. Computed a whole row of tiles at a time over slices, so
/// that the loops vectorise; `pair` holds one output row's even and odd columns.
#[inline(always)]
fn output_tile_row<T: Float>(
    g: &Geom,
    m: &[T],
    (first, stride): (usize, usize),
    (o, ty): (usize, usize),
    out: &mut BlockRows<T>,
    pair: &mut Vec<T>,
) {
    let ow = g.output[1];
    let tw = ow.div_ceil(2);
    let xi = |k: usize| &m[first + k * stride..first + k * stride + tw];
    pair.resize(2 * tw, T::ZERO);
    for i in 0..2 {
        let y = 2 * ty + i;
        if y >= out.rows.end {
            break;
        }
        let (even, odd) = pair.split_at_mut(tw);
        // Row i of A^T m, column j: m[j] + m[4+j] + m[8+j] (i = 0) or m[4+j] - m[8+j] -
        // m[12+j] (i = 1).
        let r = |j: usize| (xi(j), xi(4 + j), xi(8 + j), xi(12 + j));
        let (c0, c1, c2, c3) = (r(0), r(1), r(2), r(3));
        let combine = |c: (&[T], &[T], &[T], &[T]), t: usize| {
            if i == 0 {
                c.0[t] + c.1[t] + c.2[t]
            } else {
                c.1[t] - c.2[t] - c.3[t]
            }
        };
        for t in 0..tw {
            let (s0, s1, s2, s3) = (
                combine(c0, t),
                combine(c1, t),
                combine(c2, t),
                combine(c3, t),
            );
            even[t] = s0 + s1 + s2;
            odd[t] = s1 - s2 - s3;
        }
        let row = out.row(o, y);
        let mut pairs = row.chunks_exact_mut(2);
        for ((p, &e), &od) in (&mut pairs).zip(&*even).zip(&*odd) {
            (p[0], p[1]) = (e, od);
        }
        if let [last] = pairs.into_remainder() {
            *last = even[tw - 1];
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

impl<T> BlockRows<T> {
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
