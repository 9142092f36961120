//! [`PoolBackward`] at one launch's sizes: the plane count and the input and output sizes
//! evaluated, the output size checked against the forward pooling's (PyTorch's
//! `pooling_output_shape`), and the three buffers proved to hold their extents.
use super::{Ctx, product};
use crate::access::AccessError;
use crate::ir::{PoolBackward, PoolBackwardKind};
use kiln_ir::Pool2d;

/// A [`PoolBackward`] at concrete sizes, in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolBackwardAt {
    pub planes: usize,
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
}

/// PyTorch's `pooling_output_shape` for one axis: `floor_or_ceil((L + 2p - d(k-1) - 1) / s) + 1`,
/// where under `ceil_mode` a last window starting past the input and its left padding is
/// dropped; `None` where it is below 1.
pub fn pool_out_size(len: usize, p: &Pool2d, axis: usize) -> Option<usize> {
    let (k, s, pad, d) = (
        i128::from(p.kernel_size[axis]),
        i128::from(p.stride[axis]),
        i128::from(p.padding[axis]),
        i128::from(p.dilation[axis]),
    );
    let len = i128::try_from(len).ok()?;
    let round_up = if p.ceil_mode { s - 1 } else { 0 };
    let mut out = (len + 2 * pad - d * (k - 1) - 1 + round_up).div_euclid(s) + 1;
    if p.ceil_mode && (out - 1) * s >= len + pad {
        out -= 1;
    }
    usize::try_from(out).ok().filter(|&o| o >= 1)
}

fn check_params(ctx: &Ctx, p: &Pool2d) -> Result<(), AccessError> {
    let positive = p.kernel_size.iter().chain(&p.stride).chain(&p.dilation);
    if positive.into_iter().any(|&v| v < 1) || p.padding.iter().any(|&v| v < 0) {
        return Err(ctx.fail(format!(
            "kernel_size, stride and dilation must be positive and padding non-negative, found \
             {p:?}"
        )));
    }
    if p.divisor_override == Some(0) {
        return Err(ctx.fail("divisor_override must not be zero".into()));
    }
    Ok(())
}

pub(super) fn pool_backward_at(ctx: &Ctx, c: &PoolBackward) -> Result<PoolBackwardAt, AccessError> {
    let at = PoolBackwardAt {
        planes: ctx.size(&c.planes)?,
        in_hw: [ctx.size(&c.in_hw[0])?, ctx.size(&c.in_hw[1])?],
        out_hw: [ctx.size(&c.out_hw[0])?, ctx.size(&c.out_hw[1])?],
    };
    let expected = match &c.kind {
        PoolBackwardKind::MaxPool2d(p) | PoolBackwardKind::AvgPool2d(p) => {
            check_params(ctx, p)?;
            [
                pool_out_size(at.in_hw[0], p, 0),
                pool_out_size(at.in_hw[1], p, 1),
            ]
        }
        // Adaptive windows fit any output size; they need one, to divide by.
        _ => at.out_hw.map(|o| Some(o).filter(|&o| o >= 1)),
    };
    for (a, want) in expected.iter().enumerate() {
        if *want != Some(at.out_hw[a]) {
            return Err(ctx.fail(format!(
                "grad_output dim {a} is {} but the input's {} gives {want:?}",
                at.out_hw[a], at.in_hw[a]
            )));
        }
    }
    let with_planes = |hw: [usize; 2]| product(&[at.planes, hw[0], hw[1]]);
    let (input, output) = (with_planes(at.in_hw), with_planes(at.out_hw));
    ctx.fits(c.grad_output, "grad_output", output, true)?;
    if let Some(b) = c.input {
        ctx.fits(b, "input", input, true)?;
    }
    ctx.fits(c.out, "output", input, true)?;
    Ok(at)
}
