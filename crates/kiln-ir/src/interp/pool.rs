//! 2-d pooling over `(N, C, H, W)` or unbatched `(C, H, W)` values, exactly as PyTorch's CPU
//! kernels compute it: the last two dims are pooled, every leading index is a plane.
//!
//! Window arithmetic is done in i128 so that no parameter the validator accepts can overflow.
use super::Value;
use crate::op::Pool2d;

/// `(planes, H, W)` of a pooling shape: every leading index (n, c) or (c) is a plane, and
/// pooling treats all planes alike. The validator accepted ranks 3 and 4 only, and the
/// product of the leading dims is bounded by the tensor's (allocated) element count.
pub(super) fn planes(shape: &[usize]) -> (usize, usize, usize) {
    let (lead, hw) = shape.split_at(shape.len() - 2);
    (lead.iter().product(), hw[0], hw[1])
}

/// Runs `window(plane, oh, ow)` for every output element, in C order.
fn pool_with(
    x: &Value,
    out_shape: &[usize],
    mut window: impl FnMut(&[f64], usize, usize) -> f64,
) -> Value {
    let (count, h, w) = planes(&x.shape);
    let (_, oh, ow) = planes(out_shape);
    let mut out = Vec::with_capacity(count * oh * ow);
    for p in 0..count {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for i in 0..oh {
            for j in 0..ow {
                out.push(window(plane, i, j));
            }
        }
    }
    Value::rounded(x.dtype, out_shape.to_vec(), out)
}

pub(super) fn wide(v: usize) -> i128 {
    v as i128
}

/// `max_pool2d`: padding counts as -inf, taps are `dilation` apart, NaN propagates.
pub(crate) fn max_pool2d(x: &Value, p: &Pool2d, out_shape: &[usize]) -> Value {
    let (_, h, w) = planes(&x.shape);
    pool_with(x, out_shape, |plane, i, j| max_tap(plane, h, w, p, i, j).0)
}

/// `max_pool2d(..., return_indices=True)`'s indices: the flat `h * W + w` position in its
/// plane of each window's maximum, as PyTorch's CPU kernel picks it (the first maximum, or
/// the last NaN; the first tap inside the input when every tap is -inf).
pub(crate) fn max_pool2d_indices(x: &Value, p: &Pool2d, out_shape: &[usize]) -> Value {
    let (_, h, w) = planes(&x.shape);
    let v = pool_with(x, out_shape, |plane, i, j| {
        max_tap(plane, h, w, p, i, j).1 as f64
    });
    Value::rounded(crate::dtype::DType::I64, v.shape, v.data)
}

/// The maximum of window `(i, j)` of a plane `h x w` and its flat position in the plane.
fn max_tap(plane: &[f64], h: usize, w: usize, p: &Pool2d, i: usize, j: usize) -> (f64, usize) {
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    let [dh, dw] = p.dilation.map(i128::from);
    let (h0, w0) = (wide(i) * sh - ph, wide(j) * sw - pw);
    let (mut best, mut at) = (f64::NEG_INFINITY, None);
    for a in 0..kh {
        let y = h0 + a * dh;
        if y < 0 || y >= wide(h) {
            continue;
        }
        for b in 0..kw {
            let x_ = w0 + b * dw;
            if x_ < 0 || x_ >= wide(w) {
                continue;
            }
            // In range, so the casts are exact.
            let k = y as usize * w + x_ as usize;
            let v = plane[k];
            if v > best || v.is_nan() || at.is_none() {
                if v > best || v.is_nan() {
                    best = v;
                }
                at = Some(k);
            }
        }
    }
    (best, at.unwrap_or(0))
}

/// `avg_pool2d` with PyTorch's divisor: the window clipped to the padded input when
/// `count_include_pad`, else to the input itself.
pub(crate) fn avg_pool2d(x: &Value, p: &Pool2d, out_shape: &[usize]) -> Value {
    let (_, h, w) = planes(&x.shape);
    let (h, w_) = (wide(h), wide(w));
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    pool_with(x, out_shape, |plane, i, j| {
        let mut hstart = wide(i) * sh - ph;
        let mut wstart = wide(j) * sw - pw;
        let mut hend = (hstart + kh).min(h + ph);
        let mut wend = (wstart + kw).min(w_ + pw);
        let pool_size = (hend - hstart) * (wend - wstart);
        hstart = hstart.max(0);
        wstart = wstart.max(0);
        hend = hend.min(h);
        wend = wend.min(w_);
        if hstart >= hend || wstart >= wend {
            return 0.0;
        }
        let mut sum = 0.0;
        for y in hstart..hend {
            for x_ in wstart..wend {
                sum += plane[y as usize * w + x_ as usize];
            }
        }
        let divisor = if let Some(d) = p.divisor_override {
            i128::from(d)
        } else if p.count_include_pad {
            pool_size
        } else {
            (hend - hstart) * (wend - wstart)
        };
        sum / divisor as f64
    })
}

/// The adaptive window of output index `o` of `out` over an input of length `len`:
/// `floor(o*len/out) .. ceil((o+1)*len/out)`.
pub(super) fn adaptive_window(o: usize, len: usize, out: usize) -> (usize, usize) {
    let start = o * len / out;
    let end = ((o + 1) * len).div_ceil(out);
    (start, end)
}

/// `adaptive_avg_pool2d` (mean of each window) or `adaptive_max_pool2d` (max, NaN propagates).
pub(crate) fn adaptive_pool2d(x: &Value, out_shape: &[usize], take_max: bool) -> Value {
    let (_, h, w) = planes(&x.shape);
    let (_, oh, ow) = planes(out_shape);
    pool_with(x, out_shape, |plane, i, j| {
        let (h0, h1) = adaptive_window(i, h, oh);
        let (w0, w1) = adaptive_window(j, w, ow);
        let taps = (h0..h1).flat_map(|y| (w0..w1).map(move |x_| plane[y * w + x_]));
        if take_max {
            taps.fold(
                f64::NEG_INFINITY,
                |m, v| {
                    if v > m || v.is_nan() { v } else { m }
                },
            )
        } else {
            let n = ((h1 - h0) * (w1 - w0)) as f64;
            taps.sum::<f64>() / n
        }
    })
}
