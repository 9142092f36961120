//! Loop planning: plain data about a kernel (which loop form each row runs, the vector
//! compute type, window bounds), decided before any CLIF is emitted. No Cranelift types
//! here: the emission modules consume these plans, and nothing here imports them.
use kiln_ir::DType;
use kiln_sched::{BufId, Kernel, Program, ScalarOp, outer_var};
use kiln_shape::Expr;

use crate::codegen::error::CodegenError;

pub(crate) mod lanes;
pub(crate) mod reduce;
pub(crate) mod tile;
pub(crate) mod window;

/// Whether `vector` accesses to a buffer of `dtype` are supported in a loop computing in
/// `compute` (F32 or F64).
pub(crate) fn vectorizable(dtype: DType, compute: DType) -> bool {
    match compute {
        DType::F64 => dtype == DType::F64,
        _ => matches!(dtype, DType::F32 | DType::F16 | DType::BF16),
    }
}

/// Lanes of the 128-bit vector loop computing in `compute`: 4 f32 or 2 f64.
pub(crate) fn vector_lanes(compute: DType) -> i64 {
    if compute.compute() == DType::F64 {
        2
    } else {
        4
    }
}

/// How the columns of a row are computed besides the scalar tail loop.
pub(crate) enum RowForm {
    /// A vector loop in this compute type (no reduction), in tiles where a wide routine
    /// computes some of its instructions ([`tile`]).
    Vector(DType, Option<tile::TilePlan>),
    /// The reduction runs in lanes over the inner output dim ([`lanes`]).
    Lanes(lanes::OutputLanes),
    /// Rows covered whole by a task are reduced as one nest ([`reduce::RowPlan`]).
    WholeRows(reduce::RowPlan),
    /// Point by point only.
    Points,
}

/// A kernel ready for emission: its dims collapsed (at least one) and its row form.
pub(crate) struct KernelPlan {
    pub kernel: Kernel,
    pub form: RowForm,
}

/// The dtype of a declared buffer of `program`.
pub(crate) fn buffer_dtype(program: &Program, buf: BufId) -> Result<DType, CodegenError> {
    program
        .buffers
        .get(buf as usize)
        .map(|d| d.dtype)
        .ok_or(CodegenError::UndeclaredBuffer { buf })
}

/// Plans `kernel` of `program`: collapses its dims, then picks the row form (a vector loop,
/// lanes of outputs, whole rows, or points).
pub(crate) fn plan_kernel(program: &Program, kernel: &Kernel) -> Result<KernelPlan, CodegenError> {
    let mut k = collapse(kernel);
    if k.dims.is_empty() {
        k.dims.push(Expr::int(1));
    }
    // An undeclared buffer never vectorises; the emission reports it where it is used.
    let dtype_of = |buf: u32| buffer_dtype(program, buf).unwrap_or(DType::Bool);
    let form = if let Some(compute) = simd_compute(&k, &dtype_of) {
        let tiles = tile::plan(&k, compute);
        RowForm::Vector(compute, tiles)
    } else if let Some(lanes) = lanes::plan(&k, &dtype_of) {
        RowForm::Lanes(lanes)
    } else {
        let inner = outer_var(k.dims.len() - 1);
        match reduce::row_plan(program, &k, &inner)? {
            Some(rows) => RowForm::WholeRows(rows),
            None => RowForm::Points,
        }
    };
    Ok(KernelPlan { kernel: k, form })
}

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
