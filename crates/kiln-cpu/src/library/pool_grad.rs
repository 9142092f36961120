//! Pool backward steps on the CPU: PyTorch's CPU scatter (each output gradient added into its
//! window of the input gradient), one plane per task across rayon's threads, so no two tasks
//! write the same element. Buffers are read and written through slices of the extents
//! [`kiln_sched::LibraryCall::launch`] proved; window taps are clipped to the plane, so no
//! parameter reaches outside it. f32 and f64 compute in their own type, f16 and bf16 in f32 (as
//! PyTorch's CPU kernels accumulate them), rounded once at the end.
use std::ops::{AddAssign, Div};

use half::{bf16, f16};
use kiln_ir::{DType, Pool2d};
use kiln_sched::{LibraryCall, PoolBackward, PoolBackwardAt, PoolBackwardKind};
use rayon::prelude::*;

use super::conv::buffers::{Half, output, read, write};
use crate::error::RunError;

/// The element types the scatter computes in.
trait Acc: Copy + Send + Sync + PartialOrd + AddAssign + Div<Output = Self> {
    const ZERO: Self;
    fn count(n: i128) -> Self;
    fn is_nan(self) -> bool;
}

impl Acc for f32 {
    const ZERO: Self = 0.0;
    fn count(n: i128) -> Self {
        n as f32
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Acc for f64 {
    const ZERO: Self = 0.0;
    fn count(n: i128) -> Self {
        n as f64
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

fn fail(c: &PoolBackward, msg: &str) -> RunError {
    super::unsupported(&LibraryCall::PoolBackward(Box::new(c.clone())), msg)
}

pub(super) fn run(c: &PoolBackward, at: &PoolBackwardAt, ptrs: &[*mut u8]) -> Result<(), RunError> {
    let buf = |b: u32| {
        ptrs.get(b as usize)
            .copied()
            .ok_or_else(|| fail(c, "missing buffer"))
    };
    let go = buf(c.grad_output)?;
    let x = c.input.map(buf).transpose()?;
    let out = buf(c.out)?;
    if out == go || Some(out) == x {
        return Err(fail(c, "the output buffer is also an input"));
    }
    // SAFETY (every `read`/`write` below): `ptrs[b]` points at buffer `b`, which holds at least
    // the extents `launch` proved (planes x out_hw for grad_output, planes x in_hw for the
    // input and the output), of the call's dtype; the output is a distinct buffer.
    unsafe {
        match c.dtype {
            DType::F32 => run_typed::<f32>(c, at, go, x, out),
            DType::F64 => run_typed::<f64>(c, at, go, x, out),
            DType::F16 => run_widened::<f16>(c, at, go, x, out),
            DType::BF16 => run_widened::<bf16>(c, at, go, x, out),
            DType::Bool | DType::I64 => {
                return Err(fail(c, &format!("pool backward of {} tensors", c.dtype)));
            }
        }
    }
    Ok(())
}

fn lens(at: &PoolBackwardAt) -> (usize, usize) {
    let [h, w] = at.in_hw;
    let [oh, ow] = at.out_hw;
    (at.planes * h * w, at.planes * oh * ow)
}

/// # Safety
/// As [`run`]'s: the pointers hold `at`'s extents of `T`, `out` distinct from the others.
unsafe fn run_typed<T: Acc>(
    c: &PoolBackward,
    at: &PoolBackwardAt,
    go: *mut u8,
    x: Option<*mut u8>,
    out: *mut u8,
) {
    let (in_len, out_len) = lens(at);
    let gs = unsafe { read::<T>(go, out_len) };
    let xs = x.map(|x| unsafe { read::<T>(x, in_len) });
    let xs = xs.as_deref().unwrap_or(&[]);
    if let Some(ys) = unsafe { output::<T>(out, in_len) } {
        return scatter(&c.kind, at, &gs, xs, ys);
    }
    let mut ys = vec![T::ZERO; in_len];
    scatter(&c.kind, at, &gs, xs, &mut ys);
    unsafe { write(out, &ys) };
}

/// # Safety
/// As [`run_typed`].
unsafe fn run_widened<H: Half>(
    c: &PoolBackward,
    at: &PoolBackwardAt,
    go: *mut u8,
    x: Option<*mut u8>,
    out: *mut u8,
) {
    let (in_len, out_len) = lens(at);
    let widen = |p: *mut u8, len| -> Vec<f32> {
        unsafe { read::<H>(p, len) }
            .iter()
            .map(|v| v.widen())
            .collect()
    };
    let gs = widen(go, out_len);
    let xs = x.map(|x| widen(x, in_len)).unwrap_or_default();
    let mut ys = vec![0f32; in_len];
    scatter(&c.kind, at, &gs, &xs, &mut ys);
    let narrow: Vec<H> = ys.iter().map(|&v| H::narrow(v)).collect();
    unsafe { write(out, &narrow) };
}

/// `out` (planes x in_hw, every element written) from `go` (planes x out_hw) and, for the max
/// variants, `x` (planes x in_hw; empty otherwise).
fn scatter<T: Acc>(kind: &PoolBackwardKind, at: &PoolBackwardAt, go: &[T], x: &[T], out: &mut [T]) {
    let [h, w] = at.in_hw;
    let [oh, ow] = at.out_hw;
    let plane = h * w;
    if plane == 0 {
        return;
    }
    let geo = Plane { h, w, oh, ow };
    out.par_chunks_mut(plane).enumerate().for_each(|(p, gin)| {
        gin.fill(T::ZERO);
        let g = &go[p * oh * ow..(p + 1) * oh * ow];
        let xp = if x.is_empty() {
            &[][..]
        } else {
            &x[p * plane..(p + 1) * plane]
        };
        match kind {
            PoolBackwardKind::MaxPool2d(params) => max_plane(&geo, params, g, xp, gin),
            PoolBackwardKind::AvgPool2d(params) => avg_plane(&geo, params, g, gin),
            PoolBackwardKind::AdaptiveAvgPool2d => adaptive_plane(&geo, g, None, gin),
            PoolBackwardKind::AdaptiveMaxPool2d => adaptive_plane(&geo, g, Some(xp), gin),
        }
    });
}

/// One plane's sizes.
struct Plane {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

/// Whether tap value `v` replaces the window's maximum so far: PyTorch's
/// `(val > max) || isnan(val)` over row-major window order, so the first maximum wins, and
/// the last NaN; the first in-bounds tap always starts the window.
fn better<T: Acc>(v: T, best: Option<T>) -> bool {
    match best {
        None => true,
        Some(m) => v > m || v.is_nan(),
    }
}

/// The in-bounds taps of one axis of a (dilated, padded) window starting at `start`.
fn axis_taps(start: i128, k: i128, d: i128, len: usize) -> impl Iterator<Item = usize> + Clone {
    let len = len as i128;
    (0..k)
        .map(move |a| start + a * d)
        .filter(move |&y| y >= 0 && y < len)
        .map(|y| y as usize)
}

fn max_plane<T: Acc>(g: &Plane, p: &Pool2d, go: &[T], x: &[T], gin: &mut [T]) {
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    let [dh, dw] = p.dilation.map(i128::from);
    for i in 0..g.oh {
        let rows = axis_taps(i as i128 * sh - ph, kh, dh, g.h);
        for j in 0..g.ow {
            let cols = axis_taps(j as i128 * sw - pw, kw, dw, g.w);
            let mut best: Option<(usize, T)> = None;
            for y in rows.clone() {
                for c in cols.clone() {
                    let t = y * g.w + c;
                    if better(x[t], best.map(|b| b.1)) {
                        best = Some((t, x[t]));
                    }
                }
            }
            if let Some((t, _)) = best {
                gin[t] += go[i * g.ow + j];
            }
        }
    }
}

fn avg_plane<T: Acc>(g: &Plane, p: &Pool2d, go: &[T], gin: &mut [T]) {
    let (hl, wl) = (g.h as i128, g.w as i128);
    let [kh, kw] = p.kernel_size.map(i128::from);
    let [sh, sw] = p.stride.map(i128::from);
    let [ph, pw] = p.padding.map(i128::from);
    for i in 0..g.oh {
        for j in 0..g.ow {
            let (h0, w0) = (i as i128 * sh - ph, j as i128 * sw - pw);
            // PyTorch's divisor: the window clipped to the padded input, then (without
            // count_include_pad) to the input.
            let (h1, w1) = ((h0 + kh).min(hl + ph), (w0 + kw).min(wl + pw));
            let pool_size = (h1 - h0) * (w1 - w0);
            let (h0, w0, h1, w1) = (h0.max(0), w0.max(0), h1.min(hl), w1.min(wl));
            if h0 >= h1 || w0 >= w1 {
                continue;
            }
            let divisor = match p.divisor_override {
                Some(d) => i128::from(d),
                None if p.count_include_pad => pool_size,
                None => (h1 - h0) * (w1 - w0),
            };
            let delta = go[i * g.ow + j] / T::count(divisor);
            for y in h0 as usize..h1 as usize {
                for v in &mut gin[y * g.w + w0 as usize..y * g.w + w1 as usize] {
                    *v += delta;
                }
            }
        }
    }
}

/// `[floor(o*len/out), ceil((o+1)*len/out))`; `launch` proved `out >= 1`.
fn adaptive_window(o: usize, len: usize, out: usize) -> (usize, usize) {
    (o * len / out, ((o + 1) * len).div_ceil(out))
}

/// The adaptive average (`x == None`) or max backward of one plane.
fn adaptive_plane<T: Acc>(g: &Plane, go: &[T], x: Option<&[T]>, gin: &mut [T]) {
    for i in 0..g.oh {
        let (h0, h1) = adaptive_window(i, g.h, g.oh);
        for j in 0..g.ow {
            let (w0, w1) = adaptive_window(j, g.w, g.ow);
            let gv = go[i * g.ow + j];
            let Some(x) = x else {
                let delta = gv / T::count((h1 - h0) as i128) / T::count((w1 - w0) as i128);
                for y in h0..h1 {
                    for v in &mut gin[y * g.w + w0..y * g.w + w1] {
                        *v += delta;
                    }
                }
                continue;
            };
            let mut best: Option<(usize, T)> = None;
            for y in h0..h1 {
                let row = y * g.w;
                for (t, &xv) in x.iter().enumerate().take(row + w1).skip(row + w0) {
                    if better(xv, best.map(|b| b.1)) {
                        best = Some((t, xv));
                    }
                }
            }
            if let Some((t, _)) = best {
                gin[t] += gv;
            }
        }
    }
}
