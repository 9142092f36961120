//! Convolution by its definition, in f64 direct loops: the reference the compiled library
//! kernels are compared with. A 1-d convolution is a 2-d one over a height of 1.
//!
//! Shape inference accepted the shapes (channels match, every output size >= 1), and every
//! size is bounded by an allocated tensor's, so the arithmetic here is done in i64 without
//! overflow.
use super::Value;
use crate::op::{ConvParams, ConvTransposeParams};

/// Sizes and parameters of a convolution seen as 2-d.
pub(super) struct Geometry {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub output: [usize; 2],
    stride: [i64; 2],
    /// Padding before each dim (the padding after only shows in the output size).
    pad: [i64; 2],
    dilation: [i64; 2],
}

/// `[1, v]` for a 1-d parameter, `[h, w]` for a 2-d one.
fn as_2d<T: Copy>(v: &[T], one: T) -> [T; 2] {
    match v {
        [a] => [one, *a],
        [a, b] => [*a, *b],
        _ => unreachable!("convolutions have 1 or 2 spatial dims"),
    }
}

pub(super) fn geometry(x: &[usize], w: &[usize], out: &[usize], p: &ConvParams) -> Geometry {
    let pad: Vec<i64> = p.padding.iter().map(|[lo, _]| *lo).collect();
    Geometry {
        n: x[0],
        c_in: x[1],
        c_out: out[1],
        groups: p.groups as usize,
        input: as_2d(&x[2..], 1),
        kernel: as_2d(&w[2..], 1),
        output: as_2d(&out[2..], 1),
        stride: as_2d(&p.stride, 1),
        pad: as_2d(&pad, 0),
        dilation: as_2d(&p.dilation, 1),
    }
}

/// The input position a kernel tap reads for an output position, if inside the input.
pub(super) fn tap(o: usize, k: usize, g: &Geometry, axis: usize) -> Option<usize> {
    let i = o as i64 * g.stride[axis] - g.pad[axis] + k as i64 * g.dilation[axis];
    usize::try_from(i).ok().filter(|&i| i < g.input[axis])
}

/// `Op::Conv`: `out[n, o, y, x] = sum_{c, a, b} x[n, g*C/G + c, y*s - p + a*d, ...] * w[o, c,
/// a, b]` over the input channels `c` of output channel `o`'s group `g`.
pub(crate) fn conv(x: &Value, w: &Value, p: &ConvParams, out_shape: &[usize]) -> Value {
    let g = geometry(&x.shape, &w.shape, out_shape, p);
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let [ih, iw] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    let mut out = Vec::with_capacity(g.n * g.c_out * oh * ow);
    for n in 0..g.n {
        for o in 0..g.c_out {
            let first = (o / cog) * cig;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = 0.0;
                    for c in 0..cig {
                        let plane = (n * g.c_in + first + c) * ih * iw;
                        let taps = (o * cig + c) * kh * kw;
                        for a in 0..kh {
                            let Some(yi) = tap(y, a, &g, 0) else { continue };
                            for b in 0..kw {
                                let Some(xi) = tap(xo, b, &g, 1) else {
                                    continue;
                                };
                                acc += x.data[plane + yi * iw + xi] * w.data[taps + a * kw + b];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    Value::rounded(x.dtype, out_shape.to_vec(), out)
}

/// `Op::ConvTranspose2d`, as the scatter that defines it: every input element, times every
/// kernel tap, adds into `out[n, o, y*s - p + a*d, x*s - p + b*d]` where that is inside.
pub(crate) fn conv_transpose2d(
    x: &Value,
    w: &Value,
    p: &ConvTransposeParams,
    out_shape: &[usize],
) -> Value {
    let (n, c_in, ih, iw) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cog, kh, kw) = (w.shape[1], w.shape[2], w.shape[3]);
    let (c_out, oh, ow) = (out_shape[1], out_shape[2], out_shape[3]);
    let cig = c_in / p.groups as usize;
    let mut out = vec![0.0; n * c_out * oh * ow];
    let place = |i: usize, k: usize, axis: usize, len: usize| {
        let o = i as i64 * p.stride[axis] - p.padding[axis] + k as i64 * p.dilation[axis];
        usize::try_from(o).ok().filter(|&o| o < len)
    };
    for b in 0..n {
        for c in 0..c_in {
            let group = c / cig;
            for y in 0..ih {
                for xi in 0..iw {
                    let v = x.data[((b * c_in + c) * ih + y) * iw + xi];
                    for oc in 0..cog {
                        let o = group * cog + oc;
                        let taps = (c * cog + oc) * kh * kw;
                        for a in 0..kh {
                            let Some(yo) = place(y, a, 0, oh) else {
                                continue;
                            };
                            for k in 0..kw {
                                let Some(xo) = place(xi, k, 1, ow) else {
                                    continue;
                                };
                                out[((b * c_out + o) * oh + yo) * ow + xo] +=
                                    v * w.data[taps + a * kw + k];
                            }
                        }
                    }
                }
            }
        }
    }
    Value::rounded(x.dtype, out_shape.to_vec(), out)
}
