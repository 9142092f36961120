//! A whole short row of reduction outputs at once, window rows outermost (loop interchange).
//!
//! Point by point, adaptive pooling from 112 to 7 reads a 16x16 window per output: 16 input
//! rows of 64 bytes, then the next output's 16 rows of the next 64 bytes. The hardware
//! prefetchers follow that poorly: a C model of both orders on the development machine
//! streamed 17 GB/s per thread point by point and 31 GB/s reading each input row once, left
//! to right. So when a row of outputs is short and constant (at most `MAX_ROW` points), its
//! windows share their rows (no loop bound depends on the output column) and the innermost
//! run is straight-line vector code ([`crate::codegen::plan::reduce::unrolled_vectors`]),
//! as planned by [`crate::codegen::plan::reduce::row_plan`], the row is
//! emitted as one nest: the outer reduction loops run once, and at each window row every
//! output's run is added into that output's own vector accumulators, left to right. Each
//! output then finishes as a point would (the kernel body's epilogue and its stores).
//!
//! The sums are the same as point by point: each output's accumulators see the same values
//! in the same order.
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::Variable;
use kiln_sched::{Kernel, Reduction, reduce_var};

use super::emitter::{Access, KernelEmitter, RowAccesses, arg};
use super::error::CodegenError;
use super::ops::{Width, compute_type, convert, fconst};
use super::plan::reduce::RowPlan;
use super::plan::window::{WindowPlan, plan_windows};
use super::reduce::{self, VectorAccs};

/// Emits the reductions of the current row's `width` outputs (inner variable 0..width) and
/// returns each output's reduced value, as [`reduce::emit_reduction`] would for one point.
pub(crate) fn emit_row(
    e: &mut KernelEmitter,
    red: &Reduction,
    inner: &str,
    plan: RowPlan,
) -> Result<Vec<Value>, CodegenError> {
    let windows = plan_windows(red);
    let accs: Vec<VectorAccs> = (0..plan.width)
        .map(|_| VectorAccs::new(e, red, plan.compute))
        .collect();
    let ty = reduce::accumulator_type(red);
    let scalars: Vec<Variable> = (0..plan.width)
        .map(|_| {
            let v = e.b.declare_var(ty);
            let init = fconst(e.b, ty, reduce::identity(red.kind));
            e.b.def_var(v, init);
            v
        })
        .collect();
    let row = Row {
        red,
        windows: &windows,
        inner,
        plan,
        accs: &accs,
        scalars: &scalars,
    };
    row.nest(e, 0)?;
    let mut out = Vec::with_capacity(accs.len());
    for (a, s) in accs.iter().zip(&scalars) {
        a.combine_into(e, red, *s);
        let total = e.b.use_var(*s);
        out.push(convert(e.b, total, compute_type(red.acc, Width::Scalar)));
    }
    Ok(out)
}

/// One row's reduction state: per output, vector accumulators and a scalar one (the tail).
struct Row<'a> {
    red: &'a Reduction,
    windows: &'a WindowPlan,
    inner: &'a str,
    plan: RowPlan,
    accs: &'a [VectorAccs],
    scalars: &'a [Variable],
}

impl Row<'_> {
    /// The reduction loops from `level` inward; at the innermost level, every output's run.
    fn nest(&self, e: &mut KernelEmitter, level: usize) -> Result<(), CodegenError> {
        let last = self.red.dims.len() - 1;
        if level < last {
            let (lo, hi) = self.windows.bounds(e, level, &self.red.dims[level])?;
            let var = reduce_var(level);
            e.counted_loop(lo, hi, 1, &mut |e: &mut KernelEmitter, r| {
                e.idx.push();
                e.idx.bind(&var, r);
                let res = self.nest(e, level + 1);
                e.idx.pop();
                res
            })?;
            return Ok(());
        }
        for col in 0..self.accs.len() {
            e.idx.push();
            let c = e.b.ins().iconst(types::I64, col as i64);
            e.idx.bind(self.inner, c);
            let res = self.run(e, col);
            e.idx.pop();
            res?;
        }
        Ok(())
    }

    /// Output `col`'s innermost run: whole vectors unrolled, then the scalar tail.
    fn run(&self, e: &mut KernelEmitter, col: usize) -> Result<(), CodegenError> {
        let RowPlan {
            compute,
            vectors,
            remainder,
            ..
        } = self.plan;
        let var = reduce_var(self.red.dims.len() - 1);
        let loads: Vec<Option<Access>> = reduce::accesses(e, self.red, &var)?;
        let zero = e.b.ins().iconst(types::I64, 0);
        let tail =
            reduce::unrolled_vector_run(e, self.red, &loads, &self.accs[col], zero, vectors)?;
        if remainder == 0 {
            return Ok(());
        }
        let lanes = i64::from(compute_type(compute, Width::Vector).lane_count());
        let end = e.b.ins().iconst(types::I64, vectors * lanes + remainder);
        let scalar = self.scalars[col];
        e.counted_loop(tail, end, 1, &mut |e: &mut KernelEmitter, r| {
            e.idx.push();
            e.idx.bind(&var, r);
            let res = reduce::element(e, self.red, self.windows, Some((&loads, r)), scalar);
            e.idx.pop();
            res
        })?;
        Ok(())
    }
}

impl KernelEmitter<'_, '_, '_> {
    /// A row whose task covers it whole is reduced as one nest (this module); a partial
    /// row (a task boundary inside it) goes point by point. Returns the first column left
    /// for the point-by-point loop.
    pub(crate) fn whole_row(
        &mut self,
        k: &Kernel,
        inner: &str,
        plan: RowPlan,
        (col, count): (Value, Value),
        plans: &RowAccesses,
    ) -> Result<Value, CodegenError> {
        let red = k
            .reduce
            .as_ref()
            .ok_or(CodegenError::WholeRowWithoutReduction)?;
        let starts = self.b.ins().icmp_imm_s(IntCC::Equal, col, 0);
        let full = self.b.ins().icmp_imm_s(IntCC::Equal, count, plan.width);
        let whole = self.b.ins().band(starts, full);
        let blocked = self.b.create_block();
        let join = self.b.create_block();
        let tail = self.b.append_block_param(join, types::I64);
        self.b.ins().brif(whole, blocked, &[], join, &[arg(col)]);
        self.b.switch_to_block(blocked);
        let reduced = emit_row(self, red, inner, plan)?;
        for (c, r) in reduced.into_iter().enumerate() {
            let i = self.b.ins().iconst(types::I64, c as i64);
            self.idx.push();
            self.idx.bind(inner, i);
            let res = self.finish_point(k, i, plans, Width::Scalar, Some(r));
            self.idx.pop();
            res?;
        }
        let end = self.b.ins().iconst(types::I64, plan.width);
        self.b.ins().jump(join, &[arg(end)]);
        self.b.switch_to_block(join);
        Ok(tail)
    }
}
