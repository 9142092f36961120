//! Per-op checks that need no sizes: operand kinds, dtypes, ranks and argument values.
//!
//! Both [`crate::validate`] (where a rank may be unknown, e.g. after `squeeze`) and
//! [`crate::infer_shapes`] (where every rank is known) run these checks, so the rules live in one
//! place. Errors are plain messages; the caller adds the node's name and op.
use kiln_shape::Dim;

use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{BinaryOp, Op, Operand, Pool2d, ReduceOp, UnaryOp};
use crate::tensor::Tensor;

/// What the checks know about a value: its dtype and, when sizes do not decide it, its rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueInfo {
    pub dtype: DType,
    pub rank: Option<usize>,
}

/// Looks up an operand's info; fails when the operand is not (yet) defined.
pub(crate) type Lookup<'a> = dyn Fn(NodeId) -> Result<ValueInfo, String> + 'a;

/// Normalises a possibly negative `dim` for an input of rank `rank`. Like PyTorch, a rank-0
/// tensor accepts dims `-1` and `0`.
pub(crate) fn normalize_dim(dim: i64, rank: usize) -> Result<usize, String> {
    let wrap = rank.max(1);
    let r = i64::try_from(wrap).map_err(|_| format!("rank {rank} is too large"))?;
    let d = if dim < 0 { dim + r } else { dim };
    if (0..r).contains(&d) {
        // In range, so it fits in usize; a rank-0 input maps both dims to 0.
        Ok((d as usize).min(rank.saturating_sub(1)))
    } else {
        Err(format!(
            "dim {dim} is out of range for a rank-{rank} input (expected a dim in {}..={})",
            -r,
            r - 1
        ))
    }
}

/// Normalises a list of reduction dims, rejecting duplicates. Empty means all dims.
pub(crate) fn normalize_dims(dims: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    if dims.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut seen = Vec::with_capacity(dims.len());
    for &d in dims {
        let n = normalize_dim(d, rank)?;
        if seen.contains(&n) {
            return Err(format!(
                "dim {d} appears more than once in {dims:?} (dims must be distinct)"
            ));
        }
        seen.push(n);
    }
    Ok(seen)
}

/// Checks a constant's bytes against its shape and dtype.
pub(crate) fn check_constant(t: &Tensor) -> Result<ValueInfo, String> {
    let expected = t
        .shape
        .iter()
        .try_fold(t.dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} is too large", t.shape))?;
    if t.data.len() != expected {
        return Err(format!(
            "a {} tensor of shape {:?} needs {expected} bytes, found {}",
            t.dtype,
            t.shape,
            t.data.len()
        ));
    }
    Ok(ValueInfo {
        dtype: t.dtype,
        rank: Some(t.shape.len()),
    })
}

fn operand_info(o: &Operand, lookup: &Lookup<'_>) -> Result<Option<ValueInfo>, String> {
    match o {
        Operand::Value(id) => lookup(*id).map(Some),
        Operand::Scalar(_) => Ok(None),
    }
}

/// The broadcast rank of some tensor operands: the largest, unknown if any is unknown.
fn broadcast_rank(infos: &[ValueInfo]) -> Option<usize> {
    infos
        .iter()
        .try_fold(0usize, |acc, i| i.rank.map(|r| acc.max(r)))
}

/// The dtype the operands of an elementwise op are computed in: `torch.result_type`
/// ([`DType::result_type`]), where a 0-d tensor counts below dimensioned ones. A tensor of
/// unknown rank (only in [`crate::validate`], after a `squeeze`) counts as dimensioned;
/// shape inference knows every rank.
pub(crate) fn common_dtype(tensors: &[ValueInfo], has_scalar: bool) -> DType {
    let tiers: Vec<(DType, bool)> = tensors
        .iter()
        .map(|i| (i.dtype, i.rank == Some(0)))
        .collect();
    DType::result_type(&tiers, has_scalar)
}

/// The result dtype of a binary op given its operands' common dtype.
pub(crate) fn binary_result_dtype(op: BinaryOp, common: DType) -> DType {
    if op.is_comparison() {
        DType::Bool
    } else if op == BinaryOp::Div {
        // True division always gives a float.
        DType::promote_scalar(common)
    } else {
        common
    }
}

fn check_binary(
    op: BinaryOp,
    a: &Operand,
    b: &Operand,
    lookup: &Lookup<'_>,
) -> Result<ValueInfo, String> {
    let (ia, ib) = (operand_info(a, lookup)?, operand_info(b, lookup)?);
    let tensors: Vec<ValueInfo> = [ia, ib].into_iter().flatten().collect();
    if tensors.is_empty() {
        return Err("both operands are scalars; at least one must be a tensor".into());
    }
    if op == BinaryOp::Sub && tensors.iter().any(|i| i.dtype == DType::Bool) {
        return Err(
            "subtraction with a bool tensor is not supported (expected float operands); to \
             invert a mask use logical_not, else cast with to() first"
                .into(),
        );
    }
    let common = common_dtype(&tensors, tensors.len() < 2);
    if op == BinaryOp::Pow && common == DType::Bool {
        return Err(
            "pow of bool tensors is not supported (expected a float base or exponent): cast \
             with to() first"
                .into(),
        );
    }
    Ok(ValueInfo {
        dtype: binary_result_dtype(op, common),
        rank: broadcast_rank(&tensors),
    })
}

fn check_where(
    cond: &Operand,
    a: &Operand,
    b: &Operand,
    lookup: &Lookup<'_>,
) -> Result<ValueInfo, String> {
    let ic = operand_info(cond, lookup)?;
    if let Some(c) = ic
        && c.dtype != DType::Bool
    {
        return Err(format!(
            "the condition must be a bool tensor, found {}",
            c.dtype
        ));
    }
    let (ia, ib) = (operand_info(a, lookup)?, operand_info(b, lookup)?);
    let values: Vec<ValueInfo> = [ia, ib].into_iter().flatten().collect();
    let all: Vec<ValueInfo> = [ic, ia, ib].into_iter().flatten().collect();
    if all.is_empty() {
        return Err("all three operands are scalars; at least one must be a tensor".into());
    }
    Ok(ValueInfo {
        dtype: common_dtype(&values, values.len() < 2),
        rank: broadcast_rank(&all),
    })
}

fn check_reduce(
    op: ReduceOp,
    x: ValueInfo,
    dims: &[i64],
    keepdim: bool,
) -> Result<ValueInfo, String> {
    if op == ReduceOp::Mean && !x.dtype.is_float() {
        return Err(format!(
            "mean of a {} tensor is not supported (could not infer output dtype: expected a \
             float dtype): cast to a float dtype with to() first",
            x.dtype
        ));
    }
    if op == ReduceOp::Sum && x.dtype == DType::Bool {
        return Err(format!(
            "{} of a bool tensor is not supported (expected a float dtype, found bool): \
             cast to a float dtype with to() first",
            op.name()
        ));
    }
    let rank = match x.rank {
        Some(r) => {
            let reduced = normalize_dims(dims, r)?;
            // A 0-d input accepts dim 0 / -1 and stays 0-d.
            Some(if keepdim {
                r
            } else {
                r.saturating_sub(reduced.len())
            })
        }
        None => {
            let mut sorted = dims.to_vec();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!("dims {dims:?} contain a duplicate"));
            }
            None
        }
    };
    Ok(ValueInfo {
        dtype: x.dtype,
        rank,
    })
}

fn require_float(x: ValueInfo, what: &str) -> Result<(), String> {
    if x.dtype.is_float() {
        Ok(())
    } else {
        Err(format!(
            "{what} needs a float input, found {}; cast with to() first",
            x.dtype
        ))
    }
}

/// Pooling runs on float `(N, C, H, W)` or, as in PyTorch, unbatched `(C, H, W)` inputs: it
/// pools the last two dims and keeps the leading ones, so its result has the input's rank.
pub(super) fn require_pool_input(x: ValueInfo) -> Result<ValueInfo, String> {
    require_float(x, "pooling")?;
    match x.rank {
        Some(3 | 4) | None => Ok(x),
        Some(r) => Err(format!(
            "expected a rank-3 (C, H, W) or rank-4 (N, C, H, W) input, found rank {r}"
        )),
    }
}

pub(super) fn check_pool_params(p: &Pool2d, is_avg: bool) -> Result<(), String> {
    if p.divisor_override == Some(0) {
        return Err("divisor must be not zero (divisor_override=0)".into());
    }
    for axis in 0..2 {
        let (k, s, pad, d) = (
            p.kernel_size[axis],
            p.stride[axis],
            p.padding[axis],
            p.dilation[axis],
        );
        let name = ["height", "width"][axis];
        if k < 1 {
            return Err(format!("kernel_size ({name}) must be >= 1, found {k}"));
        }
        if s < 1 {
            return Err(format!("stride ({name}) must be >= 1, found {s}"));
        }
        if d < 1 {
            return Err(format!("dilation ({name}) must be >= 1, found {d}"));
        }
        if is_avg && d != 1 {
            return Err(format!(
                "avg_pool2d has no dilation (expected 1, found {d})"
            ));
        }
        if pad < 0 {
            return Err(format!("padding ({name}) must be >= 0, found {pad}"));
        }
        if pad > k / 2 {
            return Err(format!(
                "pad should be at most half of effective kernel size: padding ({name}) {pad} > \
                 kernel_size {k} / 2 = {}",
                k / 2
            ));
        }
    }
    Ok(())
}

fn check_size_list(shape: &[Dim], what: &str) -> Result<usize, String> {
    let mut minus_ones = 0;
    for d in shape {
        if let Dim::Fixed(v) = d {
            if *v == -1 {
                minus_ones += 1;
            } else if *v < -1 {
                return Err(format!("{what} size {v} is invalid (expected >= 0 or -1)"));
            }
        }
    }
    Ok(minus_ones)
}

fn check_expand(x: ValueInfo, shape: &[Dim]) -> Result<ValueInfo, String> {
    check_size_list(shape, "expand")?;
    if let Some(r) = x.rank {
        if shape.len() < r {
            return Err(format!(
                "expand to {} dims is smaller than the input's rank {r} (expected >= {r})",
                shape.len()
            ));
        }
        let lead = shape.len() - r;
        if shape[..lead].contains(&Dim::Fixed(-1)) {
            return Err(
                "the expanded size -1 is not allowed in a leading, non-existing dimension".into(),
            );
        }
    }
    Ok(ValueInfo {
        dtype: x.dtype,
        rank: Some(shape.len()),
    })
}

fn check_permute(x: ValueInfo, dims: &[i64]) -> Result<ValueInfo, String> {
    if let Some(r) = x.rank
        && r != dims.len()
    {
        return Err(format!(
            "permute needs one dim per input dim (expected {r}, found {})",
            dims.len()
        ));
    }
    let n = dims.len();
    let mut seen = vec![false; n];
    for &d in dims {
        let k = normalize_dim(d, n)?;
        if n > 0 && std::mem::replace(&mut seen[k], true) {
            return Err(format!(
                "dims {dims:?} are not a permutation (dim {d} repeats)"
            ));
        }
    }
    Ok(ValueInfo {
        dtype: x.dtype,
        rank: Some(n),
    })
}

/// Checks one op against its operands and returns its result's dtype and rank.
pub(crate) fn check_op(op: &Op, lookup: &Lookup<'_>) -> Result<ValueInfo, String> {
    let same = |x: ValueInfo| Ok(x);
    match op {
        Op::Unary { op, x } => {
            let x = lookup(*x)?;
            if x.dtype == DType::Bool && op.rejects_bool() {
                return Err(format!(
                    "{} of a bool tensor is not supported (expected a float dtype, found bool){}",
                    op.name(),
                    if *op == UnaryOp::Neg {
                        "; to invert a mask use logical_not"
                    } else {
                        ": cast with to() first"
                    }
                ));
            }
            if x.dtype.is_int() && op.rejects_int() {
                return Err(format!(
                    "{} of an integer tensor is not supported (expected a float dtype, found \
                     {}): cast with to() first",
                    op.name(),
                    x.dtype
                ));
            }
            Ok(ValueInfo {
                dtype: op.result_dtype(x.dtype),
                rank: x.rank,
            })
        }
        Op::Binary { op, a, b } => check_binary(*op, a, b, lookup),
        Op::Where { cond, a, b } => check_where(cond, a, b, lookup),
        Op::Cast { x, dtype } => Ok(ValueInfo {
            dtype: *dtype,
            rank: lookup(*x)?.rank,
        }),
        Op::Reduce {
            op,
            x,
            dims,
            keepdim,
        } => check_reduce(*op, lookup(*x)?, dims, *keepdim),
        Op::Softmax { x, dim } => {
            let x = lookup(*x)?;
            require_float(x, "softmax")?;
            if let Some(r) = x.rank {
                normalize_dim(*dim, r)?;
            }
            same(x)
        }
        Op::MaxPool2d { x, params } | Op::AvgPool2d { x, params } => {
            let x = require_pool_input(lookup(*x)?)?;
            check_pool_params(params, matches!(op, Op::AvgPool2d { .. }))?;
            Ok(x)
        }
        Op::MaxPool2dIndices { x, params } => {
            let x = require_pool_input(lookup(*x)?)?;
            check_pool_params(params, false)?;
            Ok(ValueInfo {
                dtype: DType::I64,
                rank: x.rank,
            })
        }
        Op::AdaptiveAvgPool2d { x, output_size } | Op::AdaptiveMaxPool2d { x, output_size } => {
            let x = require_pool_input(lookup(*x)?)?;
            if let Some(&o) = output_size.iter().find(|&&o| o < 1) {
                return Err(format!("output_size must be >= 1, found {o}"));
            }
            Ok(x)
        }
        Op::Conv { x, w, params } => super::conv::check_conv(lookup(*x)?, lookup(*w)?, params),
        Op::ConvTranspose2d { x, w, params } => {
            super::conv::check_conv_transpose(lookup(*x)?, lookup(*w)?, params)
        }
        Op::Reshape { x, shape } => {
            let x = lookup(*x)?;
            if check_size_list(shape, "reshape")? > 1 {
                return Err(format!("only one dim may be -1, found {shape:?}"));
            }
            Ok(ValueInfo {
                dtype: x.dtype,
                rank: Some(shape.len()),
            })
        }
        Op::Permute { x, dims } => check_permute(lookup(*x)?, dims),
        Op::Transpose { x, dim0, dim1 } => {
            let x = lookup(*x)?;
            if let Some(r) = x.rank {
                normalize_dim(*dim0, r)?;
                normalize_dim(*dim1, r)?;
            }
            same(x)
        }
        Op::Unsqueeze { x, dim } => {
            let x = lookup(*x)?;
            let rank = match x.rank {
                Some(r) => {
                    normalize_dim(*dim, r + 1)?;
                    Some(r + 1)
                }
                None => None,
            };
            Ok(ValueInfo {
                dtype: x.dtype,
                rank,
            })
        }
        Op::Squeeze { x, dims } => {
            let x = lookup(*x)?;
            if let (Some(r), Some(ds)) = (x.rank, dims) {
                normalize_dims(ds, r)?;
            }
            // Whether a dim is removed depends on its size, so the rank is only known when
            // there is nothing to remove.
            let rank = x.rank.filter(|&r| r == 0);
            Ok(ValueInfo {
                dtype: x.dtype,
                rank,
            })
        }
        Op::Expand { x, shape } => check_expand(lookup(*x)?, shape),
        Op::Flatten {
            x,
            start_dim,
            end_dim,
        } => super::flatten::check_flatten(lookup(*x)?, *start_dim, *end_dim),
        Op::Unflatten { x, dim, sizes } => {
            super::flatten::check_unflatten(lookup(*x)?, *dim, sizes)
        }
        Op::Cat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::Pad { .. }
        | Op::Repeat { .. } => super::movement::check(op, lookup),
        Op::ArgMax { x, dim, keepdim } | Op::ArgMin { x, dim, keepdim } => {
            super::index::check_arg(op.name(), lookup(*x)?, *dim, *keepdim)
        }
        Op::CumSum { x, dim } => super::index::check_cumsum(lookup(*x)?, *dim),
        Op::MatMul { a, b } => super::linalg::check_matmul(lookup(*a)?, lookup(*b)?),
        Op::SumTo { .. }
        | Op::ExpandAs { .. }
        | Op::ReshapeAs { .. }
        | Op::SliceScatter { .. }
        | Op::CatPart { .. } => super::grad::check(op, lookup),
        Op::ConvBackwardInput { .. } | Op::ConvBackwardWeight { .. } => {
            super::conv_grad::check(op, lookup)
        }
        Op::MaxPool2dBackward { .. }
        | Op::AvgPool2dBackward { .. }
        | Op::AdaptiveAvgPool2dBackward { .. }
        | Op::AdaptiveMaxPool2dBackward { .. } => super::pool_grad::check(op, lookup),
        Op::IndexSelect { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::IndexAdd { .. }
        | Op::Embedding { .. } => super::index::check_gather(op, lookup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_dim_wraps_negative_and_rejects_out_of_range() {
        assert_eq!(normalize_dim(-1, 3), Ok(2));
        assert_eq!(normalize_dim(0, 0), Ok(0));
        assert_eq!(normalize_dim(-1, 0), Ok(0));
        assert!(normalize_dim(3, 3).is_err());
        assert!(normalize_dim(-4, 3).is_err());
    }

    #[test]
    fn normalize_dims_rejects_duplicates_after_wrapping() {
        assert_eq!(normalize_dims(&[], 2), Ok(vec![0, 1]));
        let err = normalize_dims(&[1, -1], 2).unwrap_err();
        assert!(err.contains("more than once"), "{err}");
    }
}
