//! Convolution: argument checks (no sizes) and output shapes over symbolic sizes, with
//! PyTorch's rules and, where reasonable, its wording.
//!
//! Only the decisions a shape needs are asked of the env (so they become guards only when a
//! symbol makes them uncertain): the channel match, divisibility by `groups`, and that the
//! padded input holds one dilated kernel. Kernel sizes are specialised, since the lowering
//! needs them as numbers; they come from weights, which are static in practice.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::check::ValueInfo;
use super::shapes::show_shape;
use crate::op::{ConvParams, ConvTransposeParams};

/// `conv1d` or `conv2d`, by the number of spatial dims.
pub(crate) fn conv_name(spatial: usize) -> &'static str {
    if spatial == 1 { "conv1d" } else { "conv2d" }
}

fn check_same_float(what: &str, x: ValueInfo, w: ValueInfo) -> Result<(), String> {
    if !x.dtype.is_float() {
        return Err(format!(
            "{what} needs a float input, found {}; cast with to() first",
            x.dtype
        ));
    }
    if x.dtype != w.dtype {
        return Err(format!(
            "{what}: input type ({}) and weight type ({}) should be the same",
            x.dtype, w.dtype
        ));
    }
    Ok(())
}

fn check_rank(what: &str, operand: &str, info: ValueInfo, rank: usize) -> Result<(), String> {
    match info.rank {
        Some(r) if r != rank => Err(format!(
            "{what}: expected a rank-{rank} {operand} (N, C, {}), found rank {r}",
            if rank == 3 { "L" } else { "H, W" }
        )),
        _ => Ok(()),
    }
}

fn check_positive(what: &str, name: &str, values: &[i64]) -> Result<(), String> {
    match values.iter().find(|&&v| v < 1) {
        Some(v) => Err(format!("{what}: {name} must be positive, found {v}")),
        None => Ok(()),
    }
}

/// Checks `Op::Conv` without sizes; the result has the input's dtype and rank.
pub(crate) fn check_conv(x: ValueInfo, w: ValueInfo, p: &ConvParams) -> Result<ValueInfo, String> {
    let spatial = p.stride.len();
    if !(1..=2).contains(&spatial) || p.padding.len() != spatial || p.dilation.len() != spatial {
        return Err(format!(
            "convolution: expected 1 or 2 spatial dims with one stride, padding and dilation \
             each, found {} strides, {} paddings, {} dilations",
            spatial,
            p.padding.len(),
            p.dilation.len()
        ));
    }
    let what = conv_name(spatial);
    check_same_float(what, x, w)?;
    check_rank(what, "input", x, spatial + 2)?;
    check_rank(what, "weight", w, spatial + 2)?;
    check_positive(what, "stride", &p.stride)?;
    check_positive(what, "dilation", &p.dilation)?;
    if p.groups < 1 {
        return Err(format!(
            "{what}: non-positive groups is not supported ({})",
            p.groups
        ));
    }
    if p.padding.iter().flatten().any(|&v| v < 0) {
        return Err(format!("{what}: negative padding is not supported"));
    }
    Ok(ValueInfo {
        dtype: x.dtype,
        rank: Some(spatial + 2),
    })
}

/// Checks `Op::ConvTranspose2d` without sizes.
pub(crate) fn check_conv_transpose(
    x: ValueInfo,
    w: ValueInfo,
    p: &ConvTransposeParams,
) -> Result<ValueInfo, String> {
    let what = "conv_transpose2d";
    check_same_float(what, x, w)?;
    check_rank(what, "input", x, 4)?;
    check_rank(what, "weight", w, 4)?;
    check_positive(what, "stride", &p.stride)?;
    check_positive(what, "dilation", &p.dilation)?;
    if p.groups < 1 {
        return Err(format!(
            "{what}: non-positive groups is not supported ({})",
            p.groups
        ));
    }
    if p.padding.iter().chain(&p.output_padding).any(|&v| v < 0) {
        return Err(format!("{what}: negative padding is not supported"));
    }
    for axis in 0..2 {
        let (op, s, d) = (p.output_padding[axis], p.stride[axis], p.dilation[axis]);
        if op >= s && op >= d {
            return Err(format!(
                "{what}: output padding must be smaller than either stride or dilation, but \
                 got output_padding={op}, stride={s}, dilation={d} (dim {axis})"
            ));
        }
    }
    Ok(ValueInfo {
        dtype: x.dtype,
        rank: Some(4),
    })
}

fn invalid(msg: String) -> OpError {
    OpError::Invalid(msg)
}

fn overflow(what: &str) -> OpError {
    invalid(format!(
        "{what}: parameters overflow while computing the output size"
    ))
}

/// Specialises the kernel's spatial sizes (numbers in the lowering) and checks them positive.
fn kernel_sizes(env: &mut ShapeEnv, what: &str, w: &[Expr]) -> Result<Vec<i64>, OpError> {
    let mut out = Vec::with_capacity(w.len() - 2);
    for k in &w[2..] {
        let k = env.specialize(k)?;
        if k < 1 {
            return Err(invalid(format!(
                "{what}: weight {} has an empty kernel",
                show_shape(w)
            )));
        }
        out.push(k);
    }
    Ok(out)
}

/// Fails unless `count` divides by `groups` (asked of the env when `count` is symbolic).
fn require_divisible(
    env: &mut ShapeEnv,
    msg: impl FnOnce() -> String,
    count: &Expr,
    groups: i64,
) -> Result<(), OpError> {
    if groups == 1 {
        return Ok(());
    }
    let rem = count.modulo(&Expr::int(groups));
    if env.decide(&Cond::eq(rem, Expr::int(0)))? {
        Ok(())
    } else {
        Err(invalid(msg()))
    }
}

/// `Op::Conv`: `[N, C_out, out..]` with `out = (L + lo + hi - d*(k-1) - 1) // s + 1`.
pub(crate) fn conv(
    env: &mut ShapeEnv,
    x: &[Expr],
    w: &[Expr],
    p: &ConvParams,
) -> Result<Vec<Expr>, OpError> {
    let what = conv_name(p.stride.len());
    let kernel = kernel_sizes(env, what, w)?;
    let groups = Expr::int(p.groups);
    let expected = &w[1] * &groups;
    if !env.decide(&Cond::eq(x[1].clone(), expected.clone()))? {
        return Err(invalid(format!(
            "{what}: input has {} channels but weight expects {expected} (groups={}); input \
             {}, weight {}",
            x[1],
            p.groups,
            show_shape(x),
            show_shape(w)
        )));
    }
    let msg = || {
        format!(
            "{what}: weight has {} output channels, which is not divisible by groups={}",
            w[0], p.groups
        )
    };
    require_divisible(env, msg, &w[0], p.groups)?;
    let mut out = vec![x[0].clone(), w[0].clone()];
    for (axis, len) in x[2..].iter().enumerate() {
        let (k, s, d) = (kernel[axis], p.stride[axis], p.dilation[axis]);
        let [lo, hi] = p.padding[axis];
        let span = k
            .checked_sub(1)
            .and_then(|k1| k1.checked_mul(d))
            .and_then(|e| e.checked_add(1))
            .ok_or_else(|| overflow(what))?;
        let pad = lo.checked_add(hi).ok_or_else(|| overflow(what))?;
        let padded = len + &Expr::int(pad);
        if !env.decide(&Cond::ge(padded.clone(), Expr::int(span)))? {
            return Err(invalid(format!(
                "{what}: calculated padded input size per channel ({padded}) is smaller than \
                 the dilated kernel size ({span}) in spatial dim {axis}; kernel size can't be \
                 greater than actual input size"
            )));
        }
        let room = &padded - &Expr::int(span);
        out.push(&room.floor_div(&Expr::int(s)) + &Expr::int(1));
    }
    Ok(out)
}

/// `Op::ConvTranspose2d`: `[N, C_out, out_h, out_w]` with
/// `out = (L - 1) * s - 2p + d*(k-1) + output_padding + 1`.
pub(crate) fn conv_transpose(
    env: &mut ShapeEnv,
    x: &[Expr],
    w: &[Expr],
    p: &ConvTransposeParams,
) -> Result<Vec<Expr>, OpError> {
    let what = "conv_transpose2d";
    let kernel = kernel_sizes(env, what, w)?;
    if !env.decide(&Cond::eq(x[1].clone(), w[0].clone()))? {
        return Err(invalid(format!(
            "{what}: input has {} channels but weight expects {} (groups={}); input {}, \
             weight {}",
            x[1],
            w[0],
            p.groups,
            show_shape(x),
            show_shape(w)
        )));
    }
    let msg = || {
        format!(
            "{what}: weight has {} input channels, which is not divisible by groups={}",
            w[0], p.groups
        )
    };
    require_divisible(env, msg, &w[0], p.groups)?;
    let mut out = vec![x[0].clone(), &w[1] * &Expr::int(p.groups)];
    for (axis, len) in x[2..].iter().enumerate() {
        let (k, s, d) = (kernel[axis], p.stride[axis], p.dilation[axis]);
        let extra = k
            .checked_sub(1)
            .and_then(|k1| k1.checked_mul(d))
            .and_then(|e| e.checked_add(p.output_padding[axis]))
            .and_then(|e| e.checked_add(1))
            .and_then(|e| e.checked_sub(p.padding[axis].checked_mul(2)?))
            .and_then(|e| e.checked_sub(s))
            .ok_or_else(|| overflow(what))?;
        let size = &(len * &Expr::int(s)) + &Expr::int(extra);
        if !env.decide(&Cond::ge(size.clone(), Expr::int(1)))? {
            return Err(invalid(format!(
                "{what}: input size {len} in spatial dim {axis} gives output size {size}, \
                 which is too small (expected >= 1)"
            )));
        }
        out.push(size);
    }
    Ok(out)
}
