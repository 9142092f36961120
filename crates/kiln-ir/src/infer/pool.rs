//! Output sizes of the 2-d pooling ops, PyTorch's formulas over symbolic sizes.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::shapes::show_shape;
use crate::op::Pool2d;

const AXES: [&str; 2] = ["H", "W"];

/// Splits a pooling input into its leading dims (`N, C` or, unbatched, `C`) and the pooled
/// `H, W`; one rule serves both ranks, as in PyTorch.
fn split_pooled(input: &[Expr]) -> Result<(&[Expr], &[Expr; 2]), OpError> {
    match input.len() {
        3 | 4 => {
            let (lead, hw) = input.split_at(input.len() - 2);
            Ok((lead, hw.try_into().expect("two pooled dims")))
        }
        r => Err(OpError::Invalid(format!(
            "expected a rank-3 (C, H, W) or rank-4 (N, C, H, W) input, found rank {r}"
        ))),
    }
}

/// The dims from `first` on of a pooling input must be non-zero. PyTorch's checks differ per
/// op and rank: an empty batch is allowed everywhere, and `adaptive_avg_pool2d` allows an empty
/// C, but an unbatched `max_pool2d`/`avg_pool2d` needs a non-empty C.
fn require_nonempty(env: &mut ShapeEnv, input: &[Expr], first: usize) -> Result<(), OpError> {
    const NAMES: [&str; 4] = ["N", "C", "H", "W"];
    let names = &NAMES[NAMES.len() - input.len()..];
    for (i, d) in input.iter().enumerate().skip(first) {
        if !env.decide(&Cond::ge(d.clone(), Expr::int(1)))? {
            let which = names[first..].join(", ");
            return Err(OpError::Invalid(format!(
                "expected an input with non-zero {which}, found shape {} (dim {i} is {d})",
                show_shape(input)
            )));
        }
    }
    Ok(())
}

fn overflow(what: &str) -> OpError {
    OpError::Invalid(format!(
        "pooling parameters overflow while computing {what}"
    ))
}

/// PyTorch's `pooling_output_shape`:
/// `out = floor_or_ceil((L + 2p - d*(k-1) - 1) / s) + 1`, and with `ceil_mode` the last window
/// must start inside the input or the left padding, else it is dropped.
fn output_len(
    env: &mut ShapeEnv,
    len: &Expr,
    params: &Pool2d,
    axis: usize,
) -> Result<Expr, OpError> {
    let (k, s, p, d) = (
        params.kernel_size[axis],
        params.stride[axis],
        params.padding[axis],
        params.dilation[axis],
    );
    let extent = k
        .checked_sub(1)
        .and_then(|k1| k1.checked_mul(d))
        .ok_or_else(|| overflow("the dilated kernel extent"))?;
    let round_up = if params.ceil_mode { s - 1 } else { 0 };
    let offset = p
        .checked_mul(2)
        .and_then(|v| v.checked_sub(extent))
        .and_then(|v| v.checked_sub(1))
        .and_then(|v| v.checked_add(round_up))
        .ok_or_else(|| overflow("the output size"))?;
    let stride = Expr::int(s);
    let mut out = &(len + &Expr::int(offset)).floor_div(&stride) + &Expr::int(1);
    if params.ceil_mode {
        let last_start = &(&out - &Expr::int(1)) * &stride;
        if env.decide(&Cond::ge(last_start, len + &Expr::int(p)))? {
            out = &out - &Expr::int(1);
        }
    }
    if !env.decide(&Cond::ge(out.clone(), Expr::int(1)))? {
        return Err(OpError::Invalid(format!(
            "input size {}={len} with kernel_size={k}, stride={s}, padding={p}, dilation={d}, \
             ceil_mode={} gives output size {out}, which is too small (expected >= 1)",
            AXES[axis], params.ceil_mode
        )));
    }
    Ok(out)
}

/// `max_pool2d` / `avg_pool2d`: `[lead.., out_h, out_w]`. PyTorch needs C, H and W non-empty
/// (the last three dims, at either rank).
pub(crate) fn pool2d(
    env: &mut ShapeEnv,
    input: &[Expr],
    params: &Pool2d,
) -> Result<Vec<Expr>, OpError> {
    let (lead, [h, w]) = split_pooled(input)?;
    require_nonempty(env, input, input.len() - 3)?;
    let oh = output_len(env, h, params, 0)?;
    let ow = output_len(env, w, params, 1)?;
    Ok(lead.iter().cloned().chain([oh, ow]).collect())
}

/// `adaptive_{avg,max}_pool2d`: PyTorch's lowering specialises `H` and `W` (its windows depend
/// on their values), which records `H == h` and `W == w` for symbolic sizes.
pub(crate) fn adaptive_pool2d(
    env: &mut ShapeEnv,
    input: &[Expr],
    output_size: [i64; 2],
    is_avg: bool,
) -> Result<Vec<Expr>, OpError> {
    let (lead, [h, w]) = split_pooled(input)?;
    env.specialize(h)?;
    env.specialize(w)?;
    // PyTorch computes adaptive_avg_pool2d to 1x1 as a mean over H and W, which accepts empty
    // planes (NaN, as 0/0); otherwise adaptive_avg_pool2d needs non-empty H and W, and
    // adaptive_max_pool2d every dim after the first (so an unbatched input may have C = 0).
    let first = match (is_avg, output_size) {
        (true, [1, 1]) => input.len(),
        (true, _) => input.len() - 2,
        (false, _) => 1,
    };
    require_nonempty(env, input, first)?;
    let out = output_size.map(Expr::int);
    Ok(lead.iter().cloned().chain(out).collect())
}
