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
//! Two schedules ([`WHOLE_BYTES`] picks): [`blocks`] computes the output in blocks of whole
//! tile rows of one image, each block on one thread (its input transform, 16 single-threaded
//! GEMMs and output transform stay in that core's L2, and the epilogue runs on the rows it
//! wrote); [`whole`] transforms every tile at once and shares the 16 GEMMs between the threads
//! (small images, whose few tile rows would leave threads idle). [`transform`] holds the data
//! transforms both use.
use rayon::prelude::*;

mod blocks;
mod transform;
mod whole;

use super::Geom;
use super::kept::{Slot, with_kept};
use super::kernels::{Epilogue, Float};

/// Positions of the transformed 4x4 domain: one GEMM each.
pub(super) const XI: usize = 16;

/// Whether `g` is a convolution this module computes, and computes faster than im2col: 3x3,
/// stride 1, no dilation, one group, channels enough for the GEMMs, and tiles enough to pay for
/// transforming the weights on every call (`U` is 16/9 the weights' size).
pub(super) fn applies(g: &Geom) -> bool {
    let shape = !g.transposed
        && g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1;
    shape && g.c_in >= 16 && g.c_out >= 16 && tiles(g) >= MIN_TILES && enabled()
}

/// `KILN_CONV_WINOGRAD=0` sends every convolution to im2col (to compare the two; the choice is
/// made at run time, so it changes no cache entry).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_CONV_WINOGRAD").map_or(true, |v| v != "0"))
}

fn tiles(g: &Geom) -> usize {
    g.n * g.output[0].div_ceil(2) * g.output[1].div_ceil(2)
}

/// The fewest tiles (per call) for which Winograd beats im2col here: below it the weight
/// transform (16 values per (output, input) channel pair, written and read once per call)
/// costs more than the multiply-adds saved. Measured with `conv_bench` on 2 cores
/// (2026-12-07): 512 channels at 7x7, batch 1 (16 tiles) ran 0.65-0.7x im2col; 256 at 14x14,
/// batch 1 (49 tiles) 1.4x; 512 at 7x7, batch 8 (128 tiles) 1.2-1.4x.
const MIN_TILES: usize = 48;

/// Bytes of transformed input and GEMM output (`16 * (c_in + c_out)` values a tile) a block
/// aims at: about a core's L2 (1 MiB here; 256-2048 KiB measured within noise of each other
/// at batch 8, 512-1024 best at batch 1).
pub(super) const BLOCK_BYTES: usize = 1 << 20;

/// The most bytes of transformed input and GEMM output (`16 * (c_in + c_out)` values a tile)
/// computed in whole mode ([`whole`]: three parallel phases over all tiles) rather than in
/// blocks of tile rows ([`blocks`]): whole mode shares the GEMMs evenly between the threads
/// however few tile rows there are, blocks keep their data in L2. Measured: 256 channels at
/// 14x14, batch 1 (1.6 MB) 1.15-1.2x faster whole; 64 at 56x56, batch 8 (26 MB) 5x slower.
const WHOLE_BYTES: usize = 4 << 20;

/// `out = conv(x, w)` for a `g` that [`applies`], each part of the output followed by
/// `epilogue` once written.
pub(super) fn winograd<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T], epilogue: Epilogue) {
    let u = transform_weights(g, w);
    let bytes = XI * (g.c_in + g.c_out) * tiles(g) * std::mem::size_of::<T>();
    if bytes <= WHOLE_BYTES {
        whole::whole(g, x, &u, out, epilogue)
    } else {
        blocks::by_blocks(g, x, &u, out, epilogue)
    }
}

/// Scratch buffers up to this many bytes stay with their thread between calls; larger ones
/// (wide images of many channels) are freed after the call.
const KEEP_SCRATCH_BYTES: usize = WHOLE_BYTES;

thread_local! {
    /// This thread's [`Scratch`] from its last block, of whichever element type it was.
    static SCRATCH: Slot = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread's scratch buffers for `T`: reused from earlier blocks and calls,
/// so that a call neither allocates nor zeroes them once per block.
pub(super) fn with_scratch<T: Float, R>(f: impl FnOnce(&mut Scratch<T>) -> R) -> R {
    let bytes = |s: &Scratch<T>| {
        (s.v.capacity() + s.m.capacity() + s.rows.capacity()) * std::mem::size_of::<T>()
    };
    with_kept(&SCRATCH, (KEEP_SCRATCH_BYTES, bytes), f)
}

/// Per-thread buffers, reused across the blocks a thread computes.
pub(super) struct Scratch<T> {
    /// `V`: `16 x c_in x tiles`.
    pub v: Vec<T>,
    /// `M`: `16 x c_out x tiles`.
    pub m: Vec<T>,
    /// Four zero-padded input rows, then their row transform.
    pub rows: Vec<T>,
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

/// `U = G g G^T` of every (output, input) channel pair, laid out `[o][xi][c]`: each output
/// channel's row is filled by one task, and [`u_matrix`] views position `xi`'s `c_out x c_in`
/// matrix in it.
fn transform_weights<T: Float>(g: &Geom, w: &[T]) -> Vec<T> {
    let ci = g.c_in;
    let mut u = vec![T::ZERO; XI * g.c_out * ci];
    u.par_chunks_mut(XI * ci).enumerate().for_each(|(o, row)| {
        for c in 0..ci {
            let k = &w[(o * ci + c) * 9..(o * ci + c + 1) * 9];
            for (xi, v) in kernel_transform(k).into_iter().enumerate() {
                row[xi * ci + c] = v;
            }
        }
    });
    u
}

/// Position `xi`'s `c_out x c_in` matrix of the transformed weights.
pub(super) fn u_matrix<'a, T>(g: &Geom, u: &'a [T], xi: usize) -> super::gemm::View<'a, T> {
    super::gemm::View {
        data: &u[xi * g.c_in..],
        rs: XI * g.c_in,
        cs: 1,
    }
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
