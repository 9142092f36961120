//! Checks and shape rules of the index family: `argmax`/`argmin`.
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::check::{ValueInfo, normalize_dim};
use super::shapes::show_shape;
use crate::dtype::DType;

/// `argmax`/`argmin` of `x` along `dim` (`None`: the flattened input): an i64 result, the
/// input's rank less the reduced dim (all of them for `None`) unless `keepdim`.
pub(crate) fn check_arg(
    name: &str,
    x: ValueInfo,
    dim: Option<i64>,
    keepdim: bool,
) -> Result<ValueInfo, String> {
    if x.dtype == DType::Bool {
        return Err(format!(
            "{name}(): does not support bool input (expected a float or integer dtype): cast \
             with to() first"
        ));
    }
    let rank = match (x.rank, dim) {
        (Some(r), Some(d)) => {
            normalize_dim(d, r)?;
            Some(if keepdim { r } else { r.saturating_sub(1) })
        }
        // torch: a flattened argmax with keepdim keeps every dim, as size 1.
        (Some(r), None) => Some(if keepdim { r } else { 0 }),
        (None, _) => None,
    };
    Ok(ValueInfo {
        dtype: DType::I64,
        rank,
    })
}

/// The result shape of `argmax`/`argmin`; an empty reduction has no answer, as in torch.
pub(crate) fn arg_shape(
    env: &mut ShapeEnv,
    name: &str,
    shape: &[Expr],
    dim: Option<i64>,
    keepdim: bool,
) -> Result<Vec<Expr>, OpError> {
    let zero = |env: &mut ShapeEnv, e: &Expr| env.decide(&Cond::eq(e.clone(), Expr::int(0)));
    let Some(dim) = dim else {
        let numel = shape.iter().fold(Expr::int(1), |acc, d| &acc * d);
        if zero(env, &numel)? {
            return Err(OpError::Invalid(format!(
                "{name}(): expected reduction dim to be specified for an input with 0 \
                 elements (shape {})",
                show_shape(shape)
            )));
        }
        let kept = if keepdim { shape.len() } else { 0 };
        return Ok(vec![Expr::int(1); kept]);
    };
    if shape.is_empty() {
        return Ok(Vec::new());
    }
    let d = normalize_dim(dim, shape.len())?;
    if zero(env, &shape[d])? {
        return Err(OpError::Invalid(format!(
            "{name}(): expected reduction dim {d} to have non-zero size (input shape {})",
            show_shape(shape)
        )));
    }
    let mut out = shape.to_vec();
    if keepdim {
        out[d] = Expr::int(1);
    } else {
        out.remove(d);
    }
    Ok(out)
}

/// `cumsum(x, dim)`: the input's shape; floats keep their dtype, bool and i64 sum to i64.
pub(crate) fn check_cumsum(x: ValueInfo, dim: i64) -> Result<ValueInfo, String> {
    if let Some(r) = x.rank {
        normalize_dim(dim, r)?;
    }
    let dtype = if x.dtype.is_float() {
        x.dtype
    } else {
        DType::I64
    };
    Ok(ValueInfo {
        dtype,
        rank: x.rank,
    })
}

mod gather;
pub(crate) use gather::{check_gather, gather_shape};
