//! im2col (the patches a convolution's GEMM multiplies) and col2im (the scatter back that a
//! transposed convolution ends with), one row of columns per (channel, kernel tap).
use rayon::prelude::*;

use super::Geom;
use super::depthwise::split_classes;
use super::kept::{Slot, with_kept};
use super::kernels::Float;

/// The output positions `lo..hi` of one output row whose input column `o * stride + offset`
/// lies inside `0..len`; `offset = tap * dilation - padding`.
pub(super) fn valid_range(len: usize, out: usize, stride: usize, offset: isize) -> (usize, usize) {
    let (len, stride) = (len as isize, stride as isize);
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + stride - 1) / stride
    };
    let room = len - offset;
    let hi = if room <= 0 {
        0
    } else {
        ((room + stride - 1) / stride).min(out as isize)
    };
    let lo = lo.min(hi);
    (lo as usize, hi as usize)
}

/// The input row read by output row `y` at kernel row `a`, if inside the input.
fn input_row(g: &Geom, y: usize, a: usize) -> Option<usize> {
    let iy = (y * g.stride[0] + a * g.dilation[0]).checked_sub(g.pad[0])?;
    (iy < g.input[0]).then_some(iy)
}

/// One group's input as [`fill_row`] reads it: the planes as they are at column stride 1;
/// at a larger column stride every input row split into its `stride` column classes (columns
/// `k * stride + m` contiguous, each class `class_len` long), so that the columns one tap reads
/// from a row are one contiguous run instead of a strided gather.
struct Source<'a, T: Float> {
    data: std::borrow::Cow<'a, [T]>,
    /// Elements a row takes in `data` (the input width, or `stride * class_len`).
    row_len: usize,
    class_len: usize,
}

impl<'a, T: Float> Source<'a, T> {
    fn of(g: &Geom, x: &'a [T], parallel: bool) -> Self {
        let (iw, sw) = (g.input[1], g.stride[1]);
        if sw == 1 {
            return Source {
                data: std::borrow::Cow::Borrowed(x),
                row_len: iw,
                class_len: iw,
            };
        }
        let class_len = iw.div_ceil(sw);
        let row_len = sw * class_len;
        let rows = x.len() / iw.max(1);
        let mut data = vec![T::ZERO; rows * row_len];
        let split = |(src, dst): (&[T], &mut [T])| split_classes(src, sw, class_len, dst);
        if parallel {
            x.par_chunks(iw)
                .zip(data.par_chunks_mut(row_len))
                .for_each(split);
        } else {
            x.chunks(iw).zip(data.chunks_mut(row_len)).for_each(split);
        }
        Source {
            data: std::borrow::Cow::Owned(data),
            row_len,
            class_len,
        }
    }

    /// The `len` input columns `first, first + stride, ...` of row `iy` of channel `c`.
    fn run(&self, g: &Geom, c: usize, iy: usize, first: usize, len: usize) -> &[T] {
        let row = (c * g.input[0] + iy) * self.row_len;
        let sw = g.stride[1];
        let at = row + (first % sw) * self.class_len + first / sw;
        &self.data[at..at + len]
    }
}

/// Fills row `r` (channel `r / taps`, tap `r % taps`) of the columns of one group's input
/// `src`, for the output rows from `y0` on (`row` holds whole output rows).
fn fill_row<T: Float>(g: &Geom, src: &Source<T>, r: usize, y0: usize, row: &mut [T]) {
    let (taps, kw) = (g.taps(), g.kernel[1]);
    let (c, a, b) = (r / taps, (r % taps) / kw, r % kw);
    let iw = g.input[1];
    let [_, ow] = g.output;
    let sw = g.stride[1];
    let offset = (b * g.dilation[1]) as isize - g.pad[1] as isize;
    let (lo, hi) = valid_range(iw, ow, sw, offset);
    for (yy, dst) in row.chunks_exact_mut(ow).enumerate() {
        let Some(iy) = input_row(g, y0 + yy, a) else {
            dst.fill(T::ZERO);
            continue;
        };
        dst[..lo].fill(T::ZERO);
        dst[hi..].fill(T::ZERO);
        if lo == hi {
            // No output column of this tap reads the input (`first` below would be outside).
            continue;
        }
        // Inside lo..hi, `xo * sw + offset` is in 0..iw.
        let first = ((lo * sw) as isize + offset) as usize;
        dst[lo..hi].copy_from_slice(src.run(g, c, iy, first, hi - lo));
    }
}

/// Column buffers up to this size stay with their thread between calls ([`with_columns`]):
/// ResNet's stem at batch 1 needs 7.4 MB, which freed and mapped again on every call cost
/// its page faults and zeroing each time.
const KEEP_COLUMNS_BYTES: usize = 8 << 20;

thread_local! {
    /// This thread's column buffer from its last convolution, of whichever element type.
    static COLUMNS: Slot = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread's column buffer for `T`, reused from earlier calls (its contents
/// are whatever they were: [`im2col`] writes every element it hands out). A convolution
/// nested inside `f` on the same thread gets a buffer of its own.
pub(super) fn with_columns<T: Float, R>(f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    let bytes = |cols: &Vec<T>| cols.capacity() * std::mem::size_of::<T>();
    with_kept(&COLUMNS, (KEEP_COLUMNS_BYTES, bytes), f)
}

/// The `cig * taps` rows of columns of one group's input `x` for output rows `rows` into
/// `cols` (each row of columns `rows.len() * out_w` long).
pub(super) fn im2col<T: Float>(
    g: &Geom,
    x: &[T],
    rows: std::ops::Range<usize>,
    cols: &mut Vec<T>,
    parallel: bool,
) {
    let len = rows.len() * g.output[1];
    cols.resize(g.cig() * g.taps() * len, T::ZERO);
    let y0 = rows.start;
    let src = Source::of(g, x, parallel);
    if parallel {
        cols.par_chunks_mut(len)
            .enumerate()
            .for_each(|(r, row)| fill_row(g, &src, r, y0, row));
    } else {
        for (r, row) in cols.chunks_mut(len).enumerate() {
            fill_row(g, &src, r, y0, row);
        }
    }
}

/// Output plane `o` of a transposed convolution from its `taps` rows of columns (each an
/// input plane): every input position adds into `y * stride - padding + tap * dilation`.
fn scatter_plane<T: Float>(g: &Geom, cols: &[T], o: usize, out: &mut [T]) {
    let (taps, kw) = (g.taps(), g.kernel[1]);
    let [ih, iw] = g.input;
    let [oh, ow] = g.output;
    out.fill(T::ZERO);
    for t in 0..taps {
        let (a, b) = (t / kw, t % kw);
        let row = &cols[(o * taps + t) * ih * iw..(o * taps + t + 1) * ih * iw];
        // Input column xi lands at xi * sw + offset: those in 0..ow are lo..hi.
        let offset = (b * g.dilation[1]) as isize - g.pad[1] as isize;
        let (lo, hi) = valid_range(ow, iw, g.stride[1], offset);
        for y in 0..ih {
            let Some(oy) = (y * g.stride[0] + a * g.dilation[0]).checked_sub(g.pad[0]) else {
                continue;
            };
            if oy >= oh {
                continue;
            }
            let dst = &mut out[oy * ow..(oy + 1) * ow];
            let src = &row[y * iw..(y + 1) * iw];
            for (xi, &v) in src.iter().enumerate().take(hi).skip(lo) {
                let ox = ((xi * g.stride[1]) as isize + offset) as usize;
                dst[ox] = dst[ox] + v;
            }
        }
    }
}

/// col2im for one group: `cols` has `cog * taps` rows of input planes, `out` `cog` planes.
pub(super) fn col2im<T: Float>(g: &Geom, cols: &[T], out: &mut [T], parallel: bool) {
    let plane = g.out_plane();
    if parallel {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(o, p)| scatter_plane(g, cols, o, p));
    } else {
        for (o, p) in out.chunks_mut(plane).enumerate() {
            scatter_plane(g, cols, o, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_its_column_buffer_back_and_a_nested_call_its_own() {
        std::thread::spawn(|| {
            let first = with_columns::<f32, _>(|cols| {
                cols.resize(1000, 1.0);
                cols.as_ptr() as usize
            });
            let (again, nested) = with_columns::<f32, _>(|cols| {
                let nested = with_columns::<f32, _>(|inner| inner.capacity());
                (cols.as_ptr() as usize, nested)
            });
            assert_eq!(first, again, "the buffer is kept between calls");
            assert_eq!(nested, 0, "a nested call does not share the outer buffer");
            // Another element type starts fresh; a buffer over the limit is not kept.
            assert_eq!(with_columns::<f64, _>(|cols| cols.capacity()), 0);
            with_columns::<f32, _>(|cols| cols.resize(KEEP_COLUMNS_BYTES / 4 + 1, 0.0));
            assert_eq!(with_columns::<f32, _>(|cols| cols.capacity()), 0);
        })
        .join()
        .expect("the test thread");
    }
}
