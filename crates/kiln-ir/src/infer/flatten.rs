//! `flatten` and `unflatten` (the nn family's layout primitives): checks without sizes and
//! shape rules over symbolic sizes. Both keep the elements in C order, so lowering and the
//! interpreter only relabel indices.
use kiln_shape::{Dim, Expr, ShapeEnv};

use super::OpError;
use super::check::{ValueInfo, normalize_dim};
use super::shapes::{SymbolScope, reshape, show_shape};

/// `flatten`'s dims normalised (a 0-d input accepts 0 and -1 for both), or PyTorch's error.
pub(crate) fn flatten_range(rank: usize, start: i64, end: i64) -> Result<(usize, usize), String> {
    let (s, e) = (normalize_dim(start, rank)?, normalize_dim(end, rank)?);
    if s > e {
        return Err(format!(
            "flatten() has invalid args: start_dim cannot come after end_dim (start_dim={start} \
             is dim {s}, end_dim={end} is dim {e})"
        ));
    }
    Ok((s, e))
}

/// `unflatten`'s dim normalised; unlike most ops, a 0-d input has no dim to split.
pub(crate) fn unflatten_dim(rank: usize, dim: i64) -> Result<usize, String> {
    if rank == 0 {
        return Err(format!(
            "dim {dim} is out of range: unflatten needs a dim to split, but the input is 0-d"
        ));
    }
    normalize_dim(dim, rank)
}

pub(crate) fn check_flatten(x: ValueInfo, start: i64, end: i64) -> Result<ValueInfo, String> {
    let rank = match x.rank {
        Some(r) => {
            let (s, e) = flatten_range(r, start, end)?;
            Some(if r == 0 { 1 } else { r - (e - s) })
        }
        None => None,
    };
    Ok(ValueInfo {
        dtype: x.dtype,
        rank,
    })
}

pub(crate) fn check_unflatten(x: ValueInfo, dim: i64, sizes: &[Dim]) -> Result<ValueInfo, String> {
    if sizes.is_empty() {
        return Err("unflatten: sizes must be non-empty".into());
    }
    let mut minus_ones = 0;
    for d in sizes {
        match d {
            Dim::Fixed(-1) => minus_ones += 1,
            Dim::Fixed(v) if *v < -1 => {
                return Err(format!(
                    "unflatten: size {v} is invalid (expected >= 0 or -1)"
                ));
            }
            _ => {}
        }
    }
    if minus_ones > 1 {
        return Err(format!(
            "unflatten: only one dimension can be inferred, found {minus_ones} -1 entries"
        ));
    }
    let rank = match x.rank {
        Some(r) => {
            unflatten_dim(r, dim)?;
            Some(r - 1 + sizes.len())
        }
        None => None,
    };
    Ok(ValueInfo {
        dtype: x.dtype,
        rank,
    })
}

/// `[N, C, H, W]` flattened from 1 is `[N, C*H*W]`.
pub(crate) fn flatten_shape(input: &[Expr], start: i64, end: i64) -> Result<Vec<Expr>, OpError> {
    let (s, e) = flatten_range(input.len(), start, end)?;
    if input.is_empty() {
        return Ok(vec![Expr::int(1)]);
    }
    let merged = input[s..=e].iter().fold(Expr::int(1), |acc, d| &acc * d);
    let mut out = input[..s].to_vec();
    out.push(merged);
    out.extend_from_slice(&input[e + 1..]);
    Ok(out)
}

/// The split dim's sizes follow `reshape`'s rules on that one dim (symbols cancel, a -1 is
/// inferred, the product must match, each a guard where sizes decide it).
pub(crate) fn unflatten_shape(
    env: &mut ShapeEnv,
    scope: &SymbolScope,
    input: &[Expr],
    dim: i64,
    sizes: &[Dim],
) -> Result<Vec<Expr>, OpError> {
    let d = unflatten_dim(input.len(), dim)?;
    let split = reshape(env, scope, &input[d..=d], sizes).map_err(|e| match e {
        OpError::Invalid(msg) => OpError::Invalid(format!(
            "unflatten: sizes {} do not split dim {d} of size {} (input shape {}): {msg}",
            show_sizes(sizes),
            input[d],
            show_shape(input)
        )),
        other => other,
    })?;
    let mut out = input[..d].to_vec();
    out.extend(split);
    out.extend_from_slice(&input[d + 1..]);
    Ok(out)
}

fn show_sizes(sizes: &[Dim]) -> String {
    let parts: Vec<String> = sizes.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
