//! `max_pool2d(..., return_indices=True)`'s indices on the CPU ([`PoolIndicesCall`]): per
//! window, the flat `y * w + x` position of its maximum in the plane, as PyTorch's CPU kernel
//! picks it (`val > max || isnan(val)`: the first maximum, or the last NaN; the first tap
//! inside the plane when every tap is -inf). Taps are clipped to the plane, so the reads stay
//! inside the extent [`PoolIndicesCall::launch`] proved; planes run in parallel.
use half::{bf16, f16};
use kiln_ir::DType;
use kiln_sched::{PoolIndicesAt, PoolIndicesCall};
use rayon::prelude::*;

use crate::error::RunError;

pub(crate) fn run(
    c: &PoolIndicesCall,
    at: &PoolIndicesAt,
    ptrs: &[*mut u8],
) -> Result<(), RunError> {
    let missing = || RunError::Library {
        call: c.name.clone(),
        msg: "a buffer has no pointer".into(),
    };
    let (xp, op) = (
        *ptrs.get(c.x as usize).ok_or_else(missing)?,
        *ptrs.get(c.out as usize).ok_or_else(missing)?,
    );
    let (plane, out_plane) = (at.h * at.w, at.oh * at.ow);
    if at.planes * out_plane == 0 {
        return Ok(());
    }
    let es = c.dtype.size();
    // SAFETY: `launch` proved the input holds planes * h * w elements and the output
    // planes * oh * ow i64s; the output is a separate buffer nothing else touches meanwhile.
    let x = unsafe { std::slice::from_raw_parts(xp as *const u8, at.planes * plane * es) };
    let out = unsafe { std::slice::from_raw_parts_mut(op, at.planes * out_plane * 8) };
    let load: fn(&[u8]) -> f64 = match c.dtype {
        DType::F32 => |b| f32::from_ne_bytes(b[..4].try_into().expect("width")) as f64,
        DType::F64 => |b| f64::from_ne_bytes(b[..8].try_into().expect("width")),
        DType::F16 => |b| f16::from_ne_bytes(b[..2].try_into().expect("width")).to_f64(),
        DType::BF16 => |b| bf16::from_ne_bytes(b[..2].try_into().expect("width")).to_f64(),
        other => {
            return Err(RunError::Library {
                call: c.name.clone(),
                msg: format!("max_pool2d indices of a {other} input"),
            });
        }
    };
    out.par_chunks_mut(out_plane * 8)
        .enumerate()
        .for_each(|(p, dst)| {
            let src = &x[p * plane * es..(p + 1) * plane * es];
            for (k, cell) in dst.chunks_exact_mut(8).enumerate() {
                let best = window_max(src, es, load, at, &c.params, k / at.ow, k % at.ow);
                cell.copy_from_slice(&(best as i64).to_ne_bytes());
            }
        });
    Ok(())
}

/// The flat position of the maximum of window `(i, j)` of one plane (bytes of `es`-byte
/// elements).
fn window_max(
    plane: &[u8],
    es: usize,
    load: fn(&[u8]) -> f64,
    at: &PoolIndicesAt,
    p: &kiln_ir::Pool2d,
    i: usize,
    j: usize,
) -> usize {
    let (h, w) = (at.h as i128, at.w as i128);
    let h0 = i as i128 * p.stride[0] as i128 - p.padding[0] as i128;
    let w0 = j as i128 * p.stride[1] as i128 - p.padding[1] as i128;
    let (mut best, mut pos) = (f64::NEG_INFINITY, None);
    for a in 0..p.kernel_size[0] as i128 {
        let y = h0 + a * p.dilation[0] as i128;
        if y < 0 || y >= h {
            continue;
        }
        for b in 0..p.kernel_size[1] as i128 {
            let x = w0 + b * p.dilation[1] as i128;
            if x < 0 || x >= w {
                continue;
            }
            let k = (y * w + x) as usize;
            let v = load(&plane[k * es..(k + 1) * es]);
            if v > best || v.is_nan() {
                best = v;
                pos = Some(k);
            } else if pos.is_none() {
                pos = Some(k);
            }
        }
    }
    pos.unwrap_or(0)
}
