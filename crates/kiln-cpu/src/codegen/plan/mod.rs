//! Loop planning: collapsing contiguous dims and deciding whether the inner loop vectorises.
use kiln_ir::DType;
use kiln_sched::{Kernel, ScalarOp, outer_var};
use kiln_shape::Expr;

use super::memory::vectorizable;

pub(crate) mod lanes;
pub(crate) mod window;

/// The kernel with its two innermost dims merged while every load and store walks them
/// contiguously (`coeff(o[n-2]) == coeff(o[n-1]) * dims[n-1]`), repeatedly. A small innermost
/// dim (`[N, C, 7]`) then no longer limits the vector loop. Kernels with a reduction keep their
/// dims (their reduction bodies index with the outer variables).
pub(crate) fn collapse(kernel: &Kernel) -> Kernel {
    let mut k = kernel.clone();
    while let Some(merged) = merge_innermost(&k) {
        k = merged;
    }
    k
}

fn merge_innermost(k: &Kernel) -> Option<Kernel> {
    let n = k.dims.len();
    if n < 2 || k.reduce.is_some() {
        return None;
    }
    let (outer, inner) = (outer_var(n - 2), outer_var(n - 1));
    let d = k.dims[n - 1].clone();
    // `coeff_inner * o[n-1] + coeff_outer * o[n-2] + rest` becomes `coeff_inner * o[n-2] + rest`
    // with `o[n-2]` now ranging over the merged dim.
    let rewrite = |off: &Expr| -> Option<Expr> {
        let (ci, r1) = off.linear_in(&inner)?;
        let (co, rest) = r1.linear_in(&outer)?;
        if ci.mentions(&outer) || co != &ci * &d {
            return None;
        }
        Some(&(&ci * &Expr::sym(&outer)) + &rest)
    };
    let mut out = k.clone();
    for instr in &mut out.body {
        match &mut instr.op {
            ScalarOp::Load { offset, .. } => *offset = rewrite(offset)?,
            ScalarOp::Index(e) if e.mentions(&outer) || e.mentions(&inner) => {
                let merged = Expr::sym(&outer);
                let (q, r) = (merged.floor_div(&d), merged.modulo(&d));
                *e = e.subst(&|s: &str| {
                    if s == outer {
                        Some(q.clone())
                    } else if s == inner {
                        Some(r.clone())
                    } else {
                        None
                    }
                });
            }
            _ => {}
        }
    }
    for s in &mut out.stores {
        s.offset = rewrite(&s.offset)?;
    }
    out.dims[n - 2] = &k.dims[n - 2] * &d;
    out.dims.pop();
    Some(out)
}

/// The compute type of the vector loop, or `None` when the kernel runs a scalar inner loop:
/// a reduction, mixed compute types, an access whose inner stride is not the constant 0 or 1,
/// a buffer type without vector loads, or an index expression of the inner variable.
pub(crate) fn simd_compute(k: &Kernel, buffer_dtype: &dyn Fn(u32) -> DType) -> Option<DType> {
    if k.reduce.is_some() {
        return None;
    }
    body_simd_compute(k, buffer_dtype)
}

/// [`simd_compute`] for the kernel body alone: a reduction's result (`Reduced`) is allowed,
/// for kernels whose reduction runs in lanes over the inner output dim ([`super::pool`]).
pub(crate) fn body_simd_compute(k: &Kernel, buffer_dtype: &dyn Fn(u32) -> DType) -> Option<DType> {
    if k.dims.is_empty() {
        return None;
    }
    let inner = outer_var(k.dims.len() - 1);
    let compute = k.body.first()?.dtype.compute();
    let unit_or_broadcast = |off: &Expr| {
        off.linear_in(&inner)
            .is_some_and(|(c, _)| matches!(c.as_int(), Some(0 | 1)))
    };
    for instr in &k.body {
        if instr.dtype.compute() != compute {
            return None;
        }
        match &instr.op {
            ScalarOp::Load { buf, offset }
                if !vectorizable(buffer_dtype(*buf), compute) || !unit_or_broadcast(offset) =>
            {
                return None;
            }
            ScalarOp::Index(e) if e.mentions(&inner) => return None,
            _ => {}
        }
    }
    for s in &k.stores {
        if !vectorizable(buffer_dtype(s.buf), compute) || !unit_or_broadcast(&s.offset) {
            return None;
        }
        // A broadcast store (inner stride 0) would need the last lane only; keep it scalar.
        if s.offset
            .linear_in(&inner)
            .is_some_and(|(c, _)| c.as_int() == Some(0))
        {
            return None;
        }
    }
    Some(compute)
}
