//! Convolution steps on the CPU: the buffers are read and written through slices whose lengths
//! are the extents [`kiln_sched::LibraryCall::launch`] proved inside them, and the arithmetic
//! runs in safe code over those slices (the `gemm` crate's raw pointers are confined to
//! [`gemm`] and derived from the slices).
//!
//! The algorithm follows the shape ([`kernels`]): a 1x1 stride-1 unpadded convolution is a plain
//! GEMM on the input's layout, a depthwise one (one input channel per group) a direct loop, a
//! 3x3 stride-1 one with channels and output enough Winograd F(2x2, 3x3) ([`winograd`]), any
//! other an im2col into a scratch buffer and a GEMM, and a transposed one a GEMM into columns
//! and a col2im. f32 and f64 compute in their own type, f16 and bf16 in f32 (as PyTorch's CPU
//! kernels accumulate them).
pub(super) mod buffers;
mod depthwise;
mod gemm;
mod grad;
mod im2col;
mod kept;
mod kernels;
mod winograd;

use half::{bf16, f16};
use kiln_ir::DType;
use kiln_sched::{Conv, ConvAt, ConvGrad, ConvGradOf, LibraryCall};

use crate::error::RunError;
use buffers::{output, read, write};

/// A convolution's sizes in elements, every one seen as 2-d (a 1-d convolution has a height of
/// 1, kernel height 1, stride 1 and no padding there).
#[derive(Debug, Clone)]
pub(crate) struct Geom {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub input: [usize; 2],
    pub output: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before each dim (after shows only in the output size).
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub transposed: bool,
}

impl Geom {
    pub fn in_plane(&self) -> usize {
        self.input[0] * self.input[1]
    }
    pub fn out_plane(&self) -> usize {
        self.output[0] * self.output[1]
    }
    pub fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
    /// Input channels per group.
    pub fn cig(&self) -> usize {
        self.c_in / self.groups
    }
    /// Output channels per group.
    pub fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c_in * self.in_plane()
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.cig() * self.taps()
    }
    pub fn out_len(&self) -> usize {
        self.n * self.c_out * self.out_plane()
    }
}

fn as_2d(v: &[usize], one: usize) -> [usize; 2] {
    match v {
        [a] => [one, *a],
        [a, b] => [*a, *b],
        _ => [one, one],
    }
}

/// The call's sizes as `usize`s. `launch` proved the parameters positive (padding
/// non-negative) and the three extents inside their buffers without overflow.
fn geometry(c: &Conv, at: &ConvAt) -> Geom {
    let u = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    Geom {
        n: at.n,
        c_in: at.c_in,
        c_out: at.c_out,
        groups: c.groups as usize,
        input: as_2d(&at.spatial, 1),
        output: as_2d(&at.out_spatial, 1),
        kernel: as_2d(&u(&c.kernel), 1),
        stride: as_2d(&u(&c.stride), 1),
        pad: as_2d(&u(&c.padding), 0),
        dilation: as_2d(&u(&c.dilation), 1),
        transposed: c.transposed,
    }
}

fn fail(c: &Conv, msg: &str) -> RunError {
    super::unsupported(&LibraryCall::Conv(Box::new(c.clone())), msg)
}

use super::Epilogue;

/// Runs the convolution, then `epilogue` on every part of its output once that part is
/// written (see [`Epilogue`]; a no-op closure when there is none).
pub(super) fn run(
    c: &Conv,
    at: &ConvAt,
    ptrs: &[*mut u8],
    epilogue: Epilogue,
) -> Result<(), RunError> {
    let g = geometry(c, at);
    let buf = |b: u32| {
        ptrs.get(b as usize)
            .copied()
            .ok_or_else(|| fail(c, "missing buffer"))
    };
    let (x, w, out) = (buf(c.x)?, buf(c.w)?, buf(c.out)?);
    if out == x || out == w {
        return Err(fail(c, "the output buffer is also an input"));
    }
    if g.out_len() == 0 {
        return Ok(());
    }
    // SAFETY (every `read`/`write` below): `ptrs[b]` points at buffer `b`, which holds at
    // least the elements `launch` proved the call touches (`x_len`, `w_len`, `out_len` are
    // exactly those extents), of the call's dtype; the output is a distinct buffer.
    unsafe {
        match c.dtype {
            DType::F32 => run_typed::<f32>(&g, x, w, out, epilogue),
            DType::F64 => run_typed::<f64>(&g, x, w, out, epilogue),
            DType::F16 => run_widened::<f16>(&g, x, w, out, epilogue),
            DType::BF16 => run_widened::<bf16>(&g, x, w, out, epilogue),
            DType::Bool | DType::I64 => {
                return Err(fail(c, &format!("convolution of {} tensors", c.dtype)));
            }
        }
    }
    Ok(())
}

/// # Safety
/// As [`run`]'s: the pointers hold `g`'s extents of `T`, `out` distinct from the others.
unsafe fn run_typed<T: kernels::Float>(
    g: &Geom,
    x: *mut u8,
    w: *mut u8,
    out: *mut u8,
    epilogue: Epilogue,
) {
    let xs = unsafe { read::<T>(x, g.x_len()) };
    let ws = unsafe { read::<T>(w, g.w_len()) };
    if let Some(ys) = unsafe { output::<T>(out, g.out_len()) } {
        return kernels::conv(g, &xs, &ws, ys, epilogue);
    }
    // An unaligned output is computed aside and copied: the epilogue runs after the copy.
    let mut ys = vec![T::ZERO; g.out_len()];
    kernels::conv(g, &xs, &ws, &mut ys, &|_| {});
    unsafe { write(out, &ys) };
    epilogue(0..g.out_len());
}

/// f16 / bf16: widened to f32, computed, rounded once at the end.
///
/// # Safety
/// As [`run_typed`].
unsafe fn run_widened<H: buffers::Half>(
    g: &Geom,
    x: *mut u8,
    w: *mut u8,
    out: *mut u8,
    epilogue: Epilogue,
) {
    let xs: Vec<f32> = unsafe { read::<H>(x, g.x_len()) }
        .iter()
        .map(|v| v.widen())
        .collect();
    let ws: Vec<f32> = unsafe { read::<H>(w, g.w_len()) }
        .iter()
        .map(|v| v.widen())
        .collect();
    let mut ys = vec![0f32; g.out_len()];
    kernels::conv(g, &xs, &ws, &mut ys, &|_| {});
    let narrow: Vec<H> = ys.iter().map(|&v| H::narrow(v)).collect();
    unsafe { write(out, &narrow) };
    // The epilogue reads the rounded output, so it runs after it is written.
    epilogue(0..g.out_len());
}

/// A gradient step (`convolution_backward_input` / `_weight`): reads `grad_output` (the
/// forward output's buffer) and the other forward operand, writes the gradient's buffer.
pub(super) fn run_grad(c: &ConvGrad, at: &ConvAt, ptrs: &[*mut u8]) -> Result<(), RunError> {
    let call = || LibraryCall::ConvGrad(Box::new(c.clone()));
    let fail = |msg: &str| super::unsupported(&call(), msg);
    let g = geometry(&c.conv, at);
    let buf = |b: u32| {
        ptrs.get(b as usize)
            .copied()
            .ok_or_else(|| fail("missing buffer"))
    };
    let reads = c.reads();
    let (gy, other, out) = (buf(reads[0])?, buf(reads[1])?, buf(c.writes())?);
    if out == gy || out == other {
        return Err(fail("the output buffer is also an input"));
    }
    // (grad_output, other operand, gradient) extents, in the order the kernels take them.
    let lens = match c.of {
        ConvGradOf::Input => [g.out_len(), g.w_len(), g.x_len()],
        ConvGradOf::Weight => [g.out_len(), g.x_len(), g.w_len()],
    };
    if lens[2] == 0 {
        return Ok(());
    }
    let of = c.of;
    // SAFETY: as in [`run`]: each pointer is its buffer, which holds the extent `launch`
    // proved (`lens` are exactly those extents) of the call's dtype; the output is distinct.
    unsafe {
        match c.conv.dtype {
            DType::F32 => grad_typed::<f32>(of, &g, [gy, other, out], lens),
            DType::F64 => grad_typed::<f64>(of, &g, [gy, other, out], lens),
            DType::F16 => grad_widened::<f16>(of, &g, [gy, other, out], lens),
            DType::BF16 => grad_widened::<bf16>(of, &g, [gy, other, out], lens),
            DType::Bool | DType::I64 => {
                return Err(fail(&format!("convolution of {} tensors", c.conv.dtype)));
            }
        }
    }
    Ok(())
}

fn grad_kernel<T: kernels::Float>(of: ConvGradOf, g: &Geom, gy: &[T], other: &[T], out: &mut [T]) {
    match of {
        ConvGradOf::Input => grad::input_grad(g, gy, other, out),
        ConvGradOf::Weight => grad::weight_grad(g, other, gy, out),
    }
}

/// # Safety
/// `ptrs` hold `lens` elements of `T` each, the last (the output) distinct from the others.
unsafe fn grad_typed<T: kernels::Float>(
    of: ConvGradOf,
    g: &Geom,
    [gy, other, out]: [*mut u8; 3],
    lens: [usize; 3],
) {
    let gys = unsafe { read::<T>(gy, lens[0]) };
    let os = unsafe { read::<T>(other, lens[1]) };
    if let Some(ys) = unsafe { output::<T>(out, lens[2]) } {
        return grad_kernel(of, g, &gys, &os, ys);
    }
    let mut ys = vec![T::ZERO; lens[2]];
    grad_kernel(of, g, &gys, &os, &mut ys);
    unsafe { write(out, &ys) };
}

/// f16 / bf16: widened to f32, computed, rounded once at the end.
///
/// # Safety
/// As [`grad_typed`].
unsafe fn grad_widened<H: buffers::Half>(
    of: ConvGradOf,
    g: &Geom,
    [gy, other, out]: [*mut u8; 3],
    lens: [usize; 3],
) {
    let widen = |p, len| -> Vec<f32> {
        // SAFETY: the caller's contract for `gy` and `other`.
        unsafe { read::<H>(p, len) }
            .iter()
            .map(|v| v.widen())
            .collect()
    };
    let (gys, os) = (widen(gy, lens[0]), widen(other, lens[1]));
    let mut ys = vec![0f32; lens[2]];
    grad_kernel(of, g, &gys, &os, &mut ys);
    let narrow: Vec<H> = ys.iter().map(|&v| H::narrow(v)).collect();
    unsafe { write(out, &narrow) };
}
