//! Checks and shape rules of the linear-algebra primitive, `matmul` of operands of rank >= 2
//! (the 1-D cases of `torch.matmul` are composites in `build::linalg`).
use kiln_shape::{Cond, Expr, ShapeEnv};

use super::OpError;
use super::check::ValueInfo;
use super::shapes::broadcast;
use crate::dtype::DType;

/// PyTorch's matmul refuses mixed dtypes; kiln's GEMM kernels are floating point only.
pub(crate) fn check_matmul(a: ValueInfo, b: ValueInfo) -> Result<ValueInfo, String> {
    if a.dtype != b.dtype {
        return Err(format!(
            "expected m1 and m2 to have the same dtype, but got: {} != {}",
            a.dtype, b.dtype
        ));
    }
    if !matches!(a.dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
        return Err(format!(
            "matmul supports f32, f64, f16 and bf16 operands, found {}",
            a.dtype
        ));
    }
    for (which, info) in [("mat1", a), ("mat2", b)] {
        if let Some(r) = info.rank.filter(|&r| r < 2) {
            return Err(format!(
                "{which} must have rank >= 2 (the 1-D cases are the matmul composite's), \
                 found rank {r}"
            ));
        }
    }
    let rank = match (a.rank, b.rank) {
        (Some(ra), Some(rb)) => Some(ra.max(rb)),
        _ => None,
    };
    Ok(ValueInfo {
        dtype: a.dtype,
        rank,
    })
}

/// `rows x cols` at this call's sizes (PyTorch's wording), from the env's hints.
fn show_matrix(env: &ShapeEnv, rows: &Expr, cols: &Expr) -> String {
    let value = |e: &Expr| {
        env.size_hint(e)
            .map_or_else(|_| e.to_string(), |v| v.to_string())
    };
    format!("{}x{}", value(rows), value(cols))
}

/// `[batch..., m, k] @ [batch..., k, n] -> [broadcast(batch...), m, n]`. Whether the two
/// `k`s agree is asked of the env, so a symbolic `K` records a guard (or fails here when
/// the specialisation's values differ).
pub(crate) fn matmul_shape(
    env: &mut ShapeEnv,
    a: &[Expr],
    b: &[Expr],
) -> Result<Vec<Expr>, OpError> {
    let (ra, rb) = (a.len(), b.len());
    if ra < 2 || rb < 2 {
        return Err(OpError::Invalid(format!(
            "matmul needs operands of rank >= 2, found ranks {ra} and {rb}"
        )));
    }
    let (m, ka) = (&a[ra - 2], &a[ra - 1]);
    let (kb, n) = (&b[rb - 2], &b[rb - 1]);
    if ka != kb && !env.decide(&Cond::eq(ka.clone(), kb.clone()))? {
        let symbolic = [m, ka, kb, n].iter().any(|e| e.as_int().is_none());
        let exprs = if symbolic {
            format!(" (symbolic {m}x{ka} and {kb}x{n})")
        } else {
            String::new()
        };
        return Err(OpError::Invalid(format!(
            "mat1 and mat2 shapes cannot be multiplied ({} and {}){exprs}",
            show_matrix(env, m, ka),
            show_matrix(env, kb, n)
        )));
    }
    let mut out = broadcast(env, &a[..ra - 2], &b[..rb - 2]).map_err(|e| match e {
        OpError::Invalid(msg) => OpError::Invalid(format!("batch dims: {msg}")),
        other => other,
    })?;
    out.push(m.clone());
    out.push(n.clone());
    Ok(out)
}
