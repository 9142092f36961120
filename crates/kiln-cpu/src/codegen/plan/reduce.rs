//! Planning of reduction nests: whether the innermost run vectorises, whether it is emitted
//! unrolled, and whether a kernel's rows are reduced whole. The emission is
//! [`crate::codegen::reduce`] and [`crate::codegen::row_reduce`], whose module docs describe
//! the schemes.
use kiln_ir::DType;
use kiln_sched::{Kernel, Program, Reduction, ScalarOp, reduce_var};
use kiln_shape::Expr;

use super::window::{WindowPlan, plan_windows};
use super::{buffer_dtype, vector_lanes, vectorizable};
use crate::codegen::error::CodegenError;

/// Longest output row reduced as one nest (two f64x2 accumulators per output for f32 sums).
const MAX_ROW: i64 = 8;

/// How a kernel's rows are reduced whole.
#[derive(Clone, Copy)]
pub(crate) struct RowPlan {
    /// Outputs per row.
    pub width: i64,
    pub compute: DType,
    /// Whole vectors and leftover elements of each output's innermost run.
    pub vectors: i64,
    pub remainder: i64,
}

/// The plan of `k` when its rows are reduced whole (see the module docs), else `None`.
/// `inner` is the innermost output variable.
pub(crate) fn row_plan(
    program: &Program,
    k: &Kernel,
    inner: &str,
) -> Result<Option<RowPlan>, CodegenError> {
    let (Some(red), Some(width)) = (&k.reduce, k.dims.last().and_then(Expr::as_int)) else {
        return Ok(None);
    };
    if !(2..=MAX_ROW).contains(&width) || red.dims.len() < 2 {
        return Ok(None);
    }
    let windows = plan_windows(red);
    let Some(compute) = vector_compute(program, red, &windows)? else {
        return Ok(None);
    };
    let Some((vectors, remainder)) = unrolled_vectors(red, &windows, compute) else {
        return Ok(None);
    };
    let shared = red.dims.iter().enumerate().all(|(level, dim)| {
        let (lo, hi) = windows.bound_exprs(level, dim);
        !lo.mentions(inner) && !hi.mentions(inner) && !dim.mentions(inner)
    });
    Ok(shared.then_some(RowPlan {
        width,
        compute,
        vectors,
        remainder,
    }))
}

/// The compute type of a vectorised innermost run, or `None` when it stays scalar: residual
/// per-element conditions, mixed compute types, a load that is neither contiguous nor
/// broadcast along the innermost variable, a buffer without vector loads, or an index
/// expression of the innermost variable.
pub(crate) fn vector_compute(
    program: &Program,
    red: &Reduction,
    plan: &WindowPlan,
) -> Result<Option<DType>, CodegenError> {
    let Some(last) = red.dims.len().checked_sub(1) else {
        return Ok(None);
    };
    if !plan.residual.is_empty() || red.kind.is_arg() {
        return Ok(None);
    }
    let var = reduce_var(last);
    let Some(compute) = red.body.first().map(|i| i.dtype.compute()) else {
        return Ok(None);
    };
    // A run known to be shorter than one vector (a 3-wide pooling window) would only pay for
    // the vector accumulators and their horizontal combine.
    let lanes = vector_lanes(compute);
    if red.dims[last].as_int().is_some_and(|d| d < lanes) {
        return Ok(None);
    }
    for instr in &red.body {
        if instr.dtype.compute() != compute {
            return Ok(None);
        }
        match &instr.op {
            ScalarOp::Load { buf, offset } => {
                let unit_or_broadcast = offset
                    .linear_in(&var)
                    .is_some_and(|(c, _)| matches!(c.as_int(), Some(0 | 1)));
                if !unit_or_broadcast || !vectorizable(buffer_dtype(program, *buf)?, compute) {
                    return Ok(None);
                }
            }
            ScalarOp::Index(x) if x.mentions(&var) => return Ok(None),
            ScalarOp::Reduced => return Ok(None),
            _ => {}
        }
    }
    Ok(Some(compute))
}

/// Longest innermost run (elements) emitted as straight-line vector code.
const MAX_UNROLLED_VECTOR_RUN: i64 = 64;

/// `(whole vectors, leftover elements)` of an innermost run that is emitted unrolled: one of
/// constant length, at most [`MAX_UNROLLED_VECTOR_RUN`], that no window condition bounds (an
/// adaptive pooling window of equal-size windows, a short `sum` over the last dim).
pub(crate) fn unrolled_vectors(
    red: &Reduction,
    plan: &WindowPlan,
    compute: DType,
) -> Option<(i64, i64)> {
    let last = red.dims.len().checked_sub(1)?;
    let run = red.dims[last].as_int()?;
    let lanes = vector_lanes(compute);
    (plan.is_full(last) && (lanes..=MAX_UNROLLED_VECTOR_RUN).contains(&run))
        .then_some((run / lanes, run % lanes))
}
