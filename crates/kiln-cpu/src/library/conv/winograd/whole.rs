//! Whole mode: every tile of the call at once, in three parallel phases: the input transform
//! by input channel, the 16 GEMMs by transformed position (two threads share them evenly
//! however few tiles there are), the output transform by output plane. For calls whose
//! transformed data fits in L3 but whose tile rows are too few to give every thread blocks
//! (small images at small batches: a 7x7 image has 4 tile rows).
use rayon::prelude::*;

use super::super::Geom;
use super::super::gemm::{View, gemm};
use super::super::kernels::{Epilogue, Float};
use super::transform::{OutputRows, input_tile_row, output_tile_row};
use super::{Scratch, XI, u_matrix, with_scratch};

/// The tile layout of a call: `per_image` tiles an image (`tw` a tile row), `all` in all.
#[derive(Clone, Copy)]
struct Tiles {
    tw: usize,
    th: usize,
    per_image: usize,
    all: usize,
}

impl Tiles {
    fn of(g: &Geom) -> Tiles {
        let [th, tw] = [g.output[0].div_ceil(2), g.output[1].div_ceil(2)];
        Tiles {
            tw,
            th,
            per_image: th * tw,
            all: g.n * th * tw,
        }
    }
}

/// `out = conv(x, w)` from the transformed weights `u`, each output plane followed by
/// `epilogue`.
pub(super) fn whole<T: Float>(g: &Geom, x: &[T], u: &[T], out: &mut [T], epilogue: Epilogue) {
    let t = Tiles::of(g);
    let (ci, co) = (g.c_in, g.c_out);
    let (input, output) = phase_fns::<T>();
    with_scratch(|s: &mut Scratch<T>| {
        // V by input channel, `[c][xi][tile]`, so that channels fill in parallel.
        s.v.resize(XI * ci * t.all, T::ZERO);
        s.v.par_chunks_mut(XI * t.all)
            .enumerate()
            .for_each_init(Vec::new, |rows, (c, vc)| input(g, x, t, c, vc, rows));
        // M by transformed position, `[xi][o][tile]`: one GEMM per chunk.
        s.m.resize(XI * co * t.all, T::ZERO);
        let v = &s.v;
        s.m.par_chunks_mut(co * t.all)
            .enumerate()
            .for_each(|(xi, mx)| {
                let lhs = u_matrix(g, u, xi);
                let rhs = View {
                    data: &v[xi * t.all..],
                    rs: XI * t.all,
                    cs: 1,
                };
                gemm((co, t.all, ci), mx, t.all, lhs, rhs, false);
            });
        let (m, plane) = (&s.m, g.out_plane());
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each_init(Vec::new, |pair, (idx, p)| {
                output(g, m, t, idx, p, pair);
                epilogue(idx * plane..(idx + 1) * plane);
            });
    })
}

/// `B^T d B` of every tile of input channel `c` (every image) into `vc` (`[xi][tile]`).
#[inline(always)]
fn input_channel<T: Float>(g: &Geom, x: &[T], t: Tiles, c: usize, vc: &mut [T], rows: &mut Vec<T>) {
    let in_plane = g.in_plane();
    for n in 0..g.n {
        let at = (n * g.c_in + c) * in_plane;
        let plane = &x[at..at + in_plane];
        for ty in 0..t.th {
            let first = n * t.per_image + ty * t.tw;
            input_tile_row(g, plane, ty, rows, vc, (first, t.all));
        }
    }
}

/// `A^T m A` of every tile of output plane `idx` (image `idx / c_out`, channel `idx % c_out`).
#[inline(always)]
fn output_plane<T: Float>(
    g: &Geom,
    m: &[T],
    t: Tiles,
    idx: usize,
    plane: &mut [T],
    pair: &mut Vec<T>,
) {
    let (n, o) = (idx / g.c_out, idx % g.c_out);
    let mut rows = PlaneRows {
        plane,
        width: g.output[1],
    };
    for ty in 0..t.th {
        let first = o * t.all + n * t.per_image + ty * t.tw;
        output_tile_row(g, m, (first, g.c_out * t.all), (o, ty), &mut rows, pair);
    }
}

/// One output plane as [`OutputRows`] (the channel is the plane's own).
struct PlaneRows<'a, T> {
    plane: &'a mut [T],
    width: usize,
}

impl<T> OutputRows<T> for PlaneRows<'_, T> {
    fn row(&mut self, _o: usize, y: usize) -> &mut [T] {
        &mut self.plane[y * self.width..(y + 1) * self.width]
    }
}

type InputFn<T> = fn(&Geom, &[T], Tiles, usize, &mut [T], &mut Vec<T>);
type OutputFn<T> = fn(&Geom, &[T], Tiles, usize, &mut [T], &mut Vec<T>);

/// [`input_channel`] compiled for AVX2 (see `blocks::block_avx2`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn input_channel_avx2<T: Float>(
    g: &Geom,
    x: &[T],
    t: Tiles,
    c: usize,
    vc: &mut [T],
    rows: &mut Vec<T>,
) {
    input_channel(g, x, t, c, vc, rows)
}

/// [`output_plane`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn output_plane_avx2<T: Float>(
    g: &Geom,
    m: &[T],
    t: Tiles,
    idx: usize,
    plane: &mut [T],
    pair: &mut Vec<T>,
) {
    output_plane(g, m, t, idx, plane, pair)
}

/// The fastest copies of the two transform phases this CPU runs.
fn phase_fns<T: Float>() -> (InputFn<T>, OutputFn<T>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: chosen only when the CPU has AVX2, the one requirement of calling the copies
        // compiled for it; the functions are safe code.
        return (
            |g, x, t, c, v, r| unsafe { input_channel_avx2(g, x, t, c, v, r) },
            |g, m, t, i, p, r| unsafe { output_plane_avx2(g, m, t, i, p, r) },
        );
    }
    (input_channel, output_plane)
}
