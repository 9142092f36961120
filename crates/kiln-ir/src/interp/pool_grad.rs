//! The pool backward family as PyTorch's CPU kernels compute it: every output element's
//! gradient is scattered into the window it was pooled from, plane by plane, accumulating where
//! windows overlap. Max pooling finds each window's maximum again in `input` (the first one in
//! row-major window order, a NaN replacing it, as PyTorch's `(val > max) || isnan(val)` picks
//! its indices), so it needs no indices tensor.
use super::Value;
use super::pool::{adaptive_window, planes, wide};
use crate::op::Pool2d;

/// Runs `add(input_plane, grad_input_plane, oh, ow, grad)` for every element of `go`, and
/// returns the accumulated gradient with the input's shape.
fn scatter_with(
    go: &Value,
    x: &Value,
    mut add: impl FnMut(&[f64], &mut [f64], usize, usize, f64),
) -> Value {
    let (count, h, w) = planes(&x.shape);
    let (_, oh, ow) = planes(&go.shape);
    let plane_len = h * w;
    let mut out = vec![0.0; x.data.len()];
    for p in 0..count {
        let plane = &x.data[p * plane_len..(p + 1) * plane_len];
        let gin = &mut out[p * plane_len..(p + 1) * plane_len];
        for i in 0..oh {
            for j in 0..ow {
                add(plane, gin, i, j, go.data[(p * oh + i) * ow + j]);
            }
        }
    }
    Value::rounded(x.dtype, x.shape.clone(), out)
}

/// The position of the maximum among `taps` (plane offsets in row-major window order): the
/// first maximum, or the last NaN; `None` for an empty window.
fn argmax(plane: &[f64], taps: impl Iterator<Item = usize>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for t in taps {
        let v = plane[t];
        match best {
            None => best = Some((t, v)),
            Some((_, m)) if v > m || v.is_nan() => best = Some((t, v)),
            _ => {}
        }
    }
    best.map(|(t, _)| t)
}

/// The in-bounds taps of one axis of a (dilated, padded) window starting at `start`.
fn taps(start: i128, k: i128, d: i128, len: usize) -> impl Iterator<Item = usize> + Clone {
    (0..k)
        .map(move |a| start + a * d)
        .filter(move |&y| y >= 0 && y < wide(len))
        // In range, so the cast is exact.
        .map(|y| y as usize)
}

/// `max_pool2d_backward`: each window's gradient goes to its maximum in `x`.
pub(crate) fn max_pool2d_backward(go: &Value, x: &Value, p: &Pool2d) -> Value {
    let (_, h, w) = planes(&x.shape);
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    let [dh, dw] = p.dilation.map(i128::from);
    scatter_with(go, x, |plane, gin, i, j, g| {
        let rows = taps(wide(i) * sh - ph, kh, dh, h);
        let cols = taps(wide(j) * sw - pw, kw, dw, w);
        let window = rows.flat_map(|y| cols.clone().map(move |c| y * w + c));
        if let Some(t) = argmax(plane, window) {
            gin[t] += g;
        }
    })
}

/// `avg_pool2d_backward`: each window's gradient over the forward's divisor, added to every
/// input element of the window clipped to the input.
pub(crate) fn avg_pool2d_backward(go: &Value, x: &Value, p: &Pool2d) -> Value {
    let (_, h, w) = planes(&x.shape);
    let (hl, wl) = (wide(h), wide(w));
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    scatter_with(go, x, |_, gin, i, j, g| {
        let (h0, w0) = (wide(i) * sh - ph, wide(j) * sw - pw);
        // PyTorch's divisor: the window clipped to the padded input (so ceil_mode's overhang
        // never counts), then to the input itself without count_include_pad.
        let (h1, w1) = ((h0 + kh).min(hl + ph), (w0 + kw).min(wl + pw));
        let pool_size = (h1 - h0) * (w1 - w0);
        let (h0, w0, h1, w1) = (h0.max(0), w0.max(0), h1.min(hl), w1.min(wl));
        if h0 >= h1 || w0 >= w1 {
            return;
        }
        let divisor = match p.divisor_override {
            Some(d) => i128::from(d),
            None if p.count_include_pad => pool_size,
            None => (h1 - h0) * (w1 - w0),
        };
        let delta = g / divisor as f64;
        for y in h0..h1 {
            for c in w0..w1 {
                gin[y as usize * w + c as usize] += delta;
            }
        }
    })
}

/// `adaptive_avg_pool2d_backward` (`take_max == false`: the gradient over the window's size to
/// each of its elements) or `adaptive_max_pool2d_backward` (all of it to the maximum).
pub(crate) fn adaptive_pool2d_backward(go: &Value, x: &Value, take_max: bool) -> Value {
    let (_, h, w) = planes(&x.shape);
    let (_, oh, ow) = planes(&go.shape);
    scatter_with(go, x, |plane, gin, i, j, g| {
        let (h0, h1) = adaptive_window(i, h, oh);
        let (w0, w1) = adaptive_window(j, w, ow);
        let window = (h0..h1).flat_map(|y| (w0..w1).map(move |c| y * w + c));
        if take_max {
            if let Some(t) = argmax(plane, window) {
                gin[t] += g;
            }
        } else {
            // Divided by each side in turn, as PyTorch's kernel does (f64 results match).
            let delta = g / (h1 - h0) as f64 / (w1 - w0) as f64;
            for t in window {
                gin[t] += delta;
            }
        }
    })
}
