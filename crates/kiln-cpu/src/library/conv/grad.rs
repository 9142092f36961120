//! The gradients of a convolution (`convolution_backward_input` / `_weight`), from the same
//! GEMM and im2col/col2im pieces as the forward call:
//! - the input's gradient is the transposed convolution of `grad_output` with the forward
//!   weight (`w_g^T @ gy_g` into columns, then col2im), whose output size is the forward
//!   input's (so the rows a strided convolution dropped get zeros, with no output padding);
//! - the weight's gradient is `gy_g @ im2col(x_g)^T` per group, summed over the images (the
//!   GEMM accumulates into the result).
use super::Geom;
use super::gemm::{View, gemm_acc};
use super::im2col::im2col;
use super::kernels::{BLOCK_ELEMS, Float, conv};

/// The transposed convolution that is the input gradient of the convolution `g`: its input
/// is `grad_output` (`g.output`, `c_out` channels), its output the forward input.
pub(super) fn transposed_of(g: &Geom) -> Geom {
    Geom {
        c_in: g.c_out,
        c_out: g.c_in,
        input: g.output,
        output: g.input,
        transposed: true,
        ..g.clone()
    }
}

/// `gx = d conv(x, w) / d x` applied to `gy` (every element written).
pub(super) fn input_grad<T: Float>(g: &Geom, gy: &[T], w: &[T], gx: &mut [T]) {
    conv(&transposed_of(g), gy, w, gx, &|_| {})
}

/// `gw = d conv(x, w) / d w` applied to `gy` (every element written).
pub(super) fn weight_grad<T: Float>(g: &Geom, x: &[T], gy: &[T], gw: &mut [T]) {
    gw.fill(T::ZERO);
    if g.out_plane() == 0 || g.in_plane() == 0 {
        // No output position, or every tap reads padding: nothing reaches the weight.
        return;
    }
    let (cig, cog, plane) = (g.cig(), g.cog(), g.out_plane());
    let [oh, ow] = g.output;
    let k = cig * g.taps();
    let (image_in, image_out) = (g.c_in * g.in_plane(), g.c_out * plane);
    let in_group = cig * g.in_plane();
    let rows_per_block = (BLOCK_ELEMS / (k * ow).max(1)).max(1);
    let mut scratch = Vec::new();
    for img in 0..g.n {
        let xi = &x[img * image_in..(img + 1) * image_in];
        let gyi = &gy[img * image_out..(img + 1) * image_out];
        for grp in 0..g.groups {
            let xg = &xi[grp * in_group..(grp + 1) * in_group];
            let gyg = &gyi[grp * cog * plane..(grp + 1) * cog * plane];
            let wg = &mut gw[grp * cog * k..(grp + 1) * cog * k];
            for y0 in (0..oh).step_by(rows_per_block) {
                let rows = y0..(y0 + rows_per_block).min(oh);
                let cols = rows.len() * ow;
                im2col(g, xg, rows, &mut scratch, true);
                // wg (cog x k) += gy's columns y0 * ow.. (cog x cols) @ columns^T (cols x k).
                let lhs = View {
                    data: &gyg[y0 * ow..],
                    rs: plane,
                    cs: 1,
                };
                let rhs = View {
                    data: &scratch,
                    rs: 1,
                    cs: cols,
                };
                gemm_acc((cog, k, cols), wg, k, lhs, rhs, true);
            }
        }
    }
}
