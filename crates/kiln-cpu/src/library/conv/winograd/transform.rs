//! The data transforms of Winograd F(2x2, 3x3), a row of tiles at a time: the input's `B^T d B`
//! and the output's `A^T m A` (the weights' `G g G^T` is in the parent module).
use super::super::Geom;
use super::super::kernels::Float;

/// Where [`output_tile_row`] writes: output row `y` of output channel `o`.
pub(super) trait OutputRows<T> {
    fn row(&mut self, o: usize, y: usize) -> &mut [T];
}

/// `B^T d B` of every tile of tile row `ty` of one input plane, into `v[first + xi * stride +
/// tx]`. `B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]`.
///
/// Tile `tx` reads the padded columns `2tx..2tx+4`; the four input rows are copied split into
/// their even and odd padded columns (`E`, `O`, `tw + 1` each), so that every loop after the
/// copy reads consecutive elements and vectorises.
#[inline(always)]
pub(super) fn input_tile_row<T: Float>(
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
pub(super) fn output_tile_row<T: Float>(
    g: &Geom,
    m: &[T],
    (first, stride): (usize, usize),
    (o, ty): (usize, usize),
    out: &mut impl OutputRows<T>,
    pair: &mut Vec<T>,
) {
    let ow = g.output[1];
    let tw = ow.div_ceil(2);
    let xi = |k: usize| &m[first + k * stride..first + k * stride + tw];
    pair.resize(2 * tw, T::ZERO);
    for i in 0..2 {
        let y = 2 * ty + i;
        if y >= g.output[0] {
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
