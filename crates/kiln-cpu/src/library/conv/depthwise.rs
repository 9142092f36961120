//! Depthwise convolution (one input channel per group): a direct loop per output plane; no
//! GEMM, whose operands would be a single row.
//!
//! Each plane is computed as a few long contiguous multiply-adds, whatever the stride, padding
//! or dilation. The input plane is first split into `stride[0] * stride[1]` *phase planes*,
//! zero-padded: phase `(r, c)` holds the padded input's rows `i * s0 + r` and columns
//! `j * s1 + c`, so that the padded input at `(y * s0 + a * d0, x * s1 + b * d1)` (output
//! `(y, x)`, tap `(a, b)`) is phase `(a*d0 % s0, b*d1 % s1)` at `(y + a*d0 / s0, x + b*d1 /
//! s1)`: for a fixed tap, a constant shift of the phase plane. With every phase plane `qw`
//! columns wide, the output is accumulated `qw` columns wide too (its extra columns are
//! discarded), so one tap is one multiply-add over the whole plane as a flat slice: it
//! vectorises without row tails or border checks. Rows of 56 or 112 columns, stride 2 in
//! particular (a strided gather per element before), ran 2.5-16 GFLOP/s that way. The flat
//! plane is accumulated in blocks of [`BLOCK`] elements, all taps per block, so that partial
//! sums stay in registers rather than making one pass over the plane per tap.
//!
//! Every output element is `0 + v0*w0 + v1*w1 + ...` over the taps in order, as PyTorch's
//! direct kernels add them; a tap on the padding adds `0 * w`, which changes nothing unless
//! `w` is infinite or NaN (where im2col-and-GEMM convolutions give NaN too).
use rayon::prelude::*;

use super::Geom;
use super::im2col::valid_range;
use super::kernels::{Epilogue, Float};

/// The phase-plane layout of one plane of `g` (see the module docs).
struct Phases {
    /// Columns of every phase plane and of the wide output.
    qw: usize,
    /// Rows of every phase plane: the taps' reach plus one zero row, which the last output
    /// row's discarded columns may read.
    qh: usize,
}

impl Phases {
    fn of(g: &Geom) -> Phases {
        // The padded extent the taps reach: (out - 1) * stride + (kernel - 1) * dilation + 1.
        let reach =
            |d: usize| (g.output[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1;
        Phases {
            qw: reach(1).div_ceil(g.stride[1]),
            qh: reach(0).div_ceil(g.stride[0]) + 1,
        }
    }

    fn plane_len(&self) -> usize {
        self.qh * self.qw
    }
}

/// What every plane of a call shares, computed once per call (the divisions in it cost more
/// than a small plane's arithmetic).
struct Layout {
    p: Phases,
    /// Each tap's start in the phase planes (row-major over the kernel).
    tap_starts: Vec<usize>,
    /// Per column phase: the columns `lo..hi` of a phase row inside the input, and where they
    /// start in an input row's column classes (`None` when none are inside).
    columns: Vec<(usize, usize, Option<usize>)>,
    /// The length of one column class of an input row.
    class_len: usize,
}

impl Layout {
    fn of(g: &Geom) -> Layout {
        let p = Phases::of(g);
        let [s0, s1] = g.stride;
        let iw = g.input[1];
        let class_len = iw.div_ceil(s1);
        let tap_starts = (0..g.taps())
            .map(|t| {
                let a = t / g.kernel[1] * g.dilation[0];
                let b = t % g.kernel[1] * g.dilation[1];
                let phase = (a % s0) * s1 + b % s1;
                phase * p.plane_len() + (a / s0) * p.qw + b / s1
            })
            .collect();
        let columns = (0..s1)
            .map(|c| {
                let offset = c as isize - g.pad[1] as isize;
                let (lo, hi) = valid_range(iw, p.qw, s1, offset);
                // Input column j * s1 + offset is class m at index j + q.
                let (q, m) = (
                    offset.div_euclid(s1 as isize),
                    offset.rem_euclid(s1 as isize),
                );
                let first = (lo < hi).then(|| (lo as isize + q) as usize + m as usize * class_len);
                (lo, hi, first)
            })
            .collect();
        Layout {
            p,
            tap_starts,
            columns,
            class_len,
        }
    }
}

/// Fills `phases` (`s0 * s1` planes of `qh x qw`, zeroed before the call's first plane) from
/// one input plane `src`: only the positions inside the input are written, the same ones for
/// every plane of a call, so the padding stays zero. Each input row
/// is first split into its `s1` column classes (columns `k * s1 + m`, contiguous in
/// `classes`), so that every phase row is a contiguous copy. Inlined into [`plane`]'s
/// `target_feature` copies, whose wide vectors its copies and splits use too.
#[inline(always)]
fn split_phases<T: Float>(g: &Geom, l: &Layout, src: &[T], phases: &mut [T], classes: &mut Vec<T>) {
    let [ih, iw] = g.input;
    let [s0, s1] = g.stride;
    let p = &l.p;
    if s1 > 1 {
        classes.resize(s1 * l.class_len, T::ZERO);
    }
    for r in 0..s0 {
        for i in 0..p.qh {
            let iy = (i * s0 + r).checked_sub(g.pad[0]).filter(|&iy| iy < ih);
            let line = iy.map(|iy| &src[iy * iw..(iy + 1) * iw]);
            // At stride 1 the row is its one class.
            let line = match line {
                Some(line) if s1 > 1 => {
                    split_classes(line, s1, l.class_len, classes);
                    Some(&classes[..])
                }
                other => other,
            };
            for (c, &(lo, hi, first)) in l.columns.iter().enumerate() {
                let (Some(line), Some(first)) = (line, first) else {
                    continue;
                };
                let at = (r * s1 + c) * p.plane_len() + i * p.qw;
                phases[at + lo..at + hi].copy_from_slice(&line[first..first + (hi - lo)]);
            }
        }
    }
}

/// Splits `line` into its `stride` column classes, each `class_len` long in `classes`.
#[inline(always)]
pub(super) fn split_classes<T: Float>(
    line: &[T],
    stride: usize,
    class_len: usize,
    classes: &mut [T],
) {
    if stride == 2 {
        let (even, odd) = classes.split_at_mut(class_len);
        let pairs = line.chunks_exact(2);
        if let [last] = pairs.remainder() {
            even[class_len - 1] = *last;
        }
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
            (*e, *o) = (pair[0], pair[1]);
        }
        return;
    }
    for (k, &v) in line.iter().enumerate() {
        classes[(k % stride) * class_len + k / stride] = v;
    }
}

/// One output plane `idx = n * c_out + o` from input plane `n * c_in + o / cog`. Inlined into
/// the `target_feature` copies below, so that its loops are compiled with wide vectors there.
#[inline(always)]
fn plane<T: Float>(
    (g, l): (&Geom, &Layout),
    x: &[T],
    w: &[T],
    idx: usize,
    out: &mut [T],
    scratch: &mut Scratch<T>,
) {
    let (n, o) = (idx / g.c_out, idx % g.c_out);
    let c = o / g.cog();
    let in_plane = g.in_plane();
    let src = &x[(n * g.c_in + c) * in_plane..(n * g.c_in + c + 1) * in_plane];
    let [s0, s1] = g.stride;
    let [oh, ow] = g.output;
    let qw = l.p.qw;
    // The wide output is a whole number of blocks (its extra elements are discarded), so
    // every element is accumulated in registers; the phase planes get one block of zeros
    // after them for the last block's taps to read. A 7x7 plane (63 wide elements) was
    // otherwise all tail: one pass over it per tap.
    let phases_len = s0 * s1 * l.p.plane_len() + BLOCK;
    if scratch.phases.len() != phases_len {
        // Zeroed once: every plane of the call writes the same interior positions, so the
        // padding stays zero and `split_phases` copies only the inside of the input.
        scratch.phases.clear();
        scratch.phases.resize(phases_len, T::ZERO);
    }
    split_phases(g, l, src, &mut scratch.phases, &mut scratch.classes);
    let wide = &mut scratch.wide;
    // Every element is written by `accumulate_taps` (whole blocks): no zeroing.
    wide.resize((oh * qw).next_multiple_of(BLOCK), T::ZERO);
    let weights = &w[o * g.taps()..(o + 1) * g.taps()];
    accumulate_taps(&l.tap_starts, weights, &scratch.phases, wide);
    for (dst, row) in out.chunks_exact_mut(ow).zip(wide.chunks_exact(qw)) {
        dst.copy_from_slice(&row[..ow]);
    }
}

/// Elements of the wide output accumulated at once: with a constant count the block's
/// partial sums stay in vector registers across all taps (4 AVX-512 or 8 AVX2 registers of
/// f32), so each tap costs one load and one multiply-add per vector instead of a pass that
/// reads and writes the whole plane (a 112x112 plane does not fit in L1).
const BLOCK: usize = 64;

/// `wide[j] = 0 + sum over taps t of phases[starts[t] + j] * weights[t]`, taps in order,
/// every element written (not added to). `wide` is whole blocks: [`plane`] sizes it so.
#[inline(always)]
fn accumulate_taps<T: Float>(starts: &[usize], weights: &[T], phases: &[T], wide: &mut [T]) {
    for (i, block) in wide.chunks_exact_mut(BLOCK).enumerate() {
        let j0 = i * BLOCK;
        let mut acc = [T::ZERO; BLOCK];
        for (&start, &wv) in starts.iter().zip(weights) {
            let source: &[T; BLOCK] = phases[start + j0..start + j0 + BLOCK]
                .try_into()
                .expect("a block of BLOCK elements");
            for (a, &v) in acc.iter_mut().zip(source) {
                *a = *a + v * wv;
            }
        }
        block.copy_from_slice(&acc);
    }
}

/// Per-thread buffers, reused across the planes a thread computes.
struct Scratch<T> {
    phases: Vec<T>,
    wide: Vec<T>,
    /// One input row's column classes.
    classes: Vec<T>,
}

impl<T> Scratch<T> {
    fn new() -> Self {
        Scratch {
            phases: Vec::new(),
            wide: Vec::new(),
            classes: Vec::new(),
        }
    }
}

/// [`plane`] compiled for AVX-512 (the default x86-64 target has only SSE2 vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn plane_avx512<T: Float>(
    g: (&Geom, &Layout),
    x: &[T],
    w: &[T],
    idx: usize,
    out: &mut [T],
    s: &mut Scratch<T>,
) {
    plane(g, x, w, idx, out, s)
}

/// [`plane`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn plane_avx2<T: Float>(
    g: (&Geom, &Layout),
    x: &[T],
    w: &[T],
    idx: usize,
    out: &mut [T],
    s: &mut Scratch<T>,
) {
    plane(g, x, w, idx, out, s)
}

/// Every output plane, in parallel, each followed by `epilogue` on the same thread. Does
/// nothing for an empty output.
pub(super) fn depthwise<T: Float>(g: &Geom, x: &[T], w: &[T], out: &mut [T], epilogue: Epilogue) {
    let plane_len = g.out_plane();
    if plane_len == 0 || out.is_empty() {
        return;
    }
    type PlaneFn<T> = fn((&Geom, &Layout), &[T], &[T], usize, &mut [T], &mut Scratch<T>);
    let mut compute: PlaneFn<T> = plane;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (of the calls below): each copy is only chosen when the CPU has the feature
        // it was compiled for, the one requirement of calling it; the functions are safe code.
        if std::arch::is_x86_feature_detected!("avx512f") {
            compute = |g, x, w, i, o, s| unsafe { plane_avx512(g, x, w, i, o, s) };
        } else if std::arch::is_x86_feature_detected!("avx2") {
            compute = |g, x, w, i, o, s| unsafe { plane_avx2(g, x, w, i, o, s) };
        }
    }
    let layout = Layout::of(g);
    out.par_chunks_mut(plane_len)
        .enumerate()
        .for_each_init(Scratch::new, |scratch, (idx, p)| {
            compute((g, &layout), x, w, idx, p, scratch);
            epilogue(idx * plane_len..(idx + 1) * plane_len);
        });
}
