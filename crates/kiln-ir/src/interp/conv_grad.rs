//! The conv backward family by its definition, in f64 direct loops: every term of the
//! forward convolution's sum `gy[n, o, y, x] * w[o, c, a, b] * x[n, c', y', x']` adds its
//! `gy * w` into the input's gradient at `(n, c', y', x')` and its `gy * x` into the
//! weight's gradient at `(o, c, a, b)`. The reference the library steps are compared with.
use super::Value;
use super::conv::{Geometry, geometry, tap};
use crate::op::ConvParams;

/// Calls `f(gy_index, x_index, w_index)` for every term of the forward convolution's sums.
fn for_each_term(g: &Geometry, mut f: impl FnMut(usize, usize, usize)) {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let [ih, iw] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    for n in 0..g.n {
        for o in 0..g.c_out {
            let first = (o / cog) * cig;
            for y in 0..oh {
                for xo in 0..ow {
                    let gi = ((n * g.c_out + o) * oh + y) * ow + xo;
                    for c in 0..cig {
                        let plane = (n * g.c_in + first + c) * ih * iw;
                        let taps = (o * cig + c) * kh * kw;
                        for a in 0..kh {
                            let Some(yi) = tap(y, a, g, 0) else { continue };
                            for b in 0..kw {
                                let Some(xi) = tap(xo, b, g, 1) else {
                                    continue;
                                };
                                f(gi, plane + yi * iw + xi, taps + a * kw + b);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `convolution_backward_input`: `out_shape` is the forward input's shape.
pub(crate) fn backward_input(gy: &Value, w: &Value, p: &ConvParams, out_shape: &[usize]) -> Value {
    let g = geometry(out_shape, &w.shape, &gy.shape, p);
    let mut out = vec![0.0; out_shape.iter().product()];
    for_each_term(&g, |gi, xi, wi| out[xi] += gy.data[gi] * w.data[wi]);
    Value::rounded(gy.dtype, out_shape.to_vec(), out)
}

/// `convolution_backward_weight`: `out_shape` is the weight's shape.
pub(crate) fn backward_weight(gy: &Value, x: &Value, p: &ConvParams, out_shape: &[usize]) -> Value {
    let g = geometry(&x.shape, out_shape, &gy.shape, p);
    let mut out = vec![0.0; out_shape.iter().product()];
    for_each_term(&g, |gi, xi, wi| out[wi] += gy.data[gi] * x.data[xi]);
    Value::rounded(gy.dtype, out_shape.to_vec(), out)
}
