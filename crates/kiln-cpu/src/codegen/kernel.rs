//! One [`Kernel`] as one CLIF function `fn(bufs, syms, start, end)`.
//!
//! The function computes the points `[start, end)` of the kernel's row-major iteration space.
//! It walks them row by row: `start` is split once into (row, col) over the innermost dim; per
//! row the outer loop variables come from div/mod of the row number, and every access's
//! offset `coeff * inner + rest` has its `rest` computed once (strength reduction). The inner
//! loop is a 128-bit vector loop with a scalar tail where [`plan::simd_compute`] allows it.
//! The loop form of a row is planned first ([`plan::plan_kernel`]); this driver emits the
//! function's skeleton and hands the columns to the emission modules.
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, MemFlagsData, Value, types};
use kiln_ir::DType;
use kiln_sched::{BufId, Kernel, ScalarOp, outer_var};
use kiln_shape::{Expr, Factor};

use super::emitter::{Access, KernelEmitter, RowAccesses, arg};
use super::error::CodegenError;
use super::index::Terms;
use super::ops::{self, Width, compute_type};
use super::plan::lanes::OutputLanes;
use super::plan::{KernelPlan, RowForm};
use super::{memory, plan, pool, reduce, row};

/// The values every row of the function uses, computed once before the row loop.
struct Rows {
    /// The innermost dim (columns per row).
    width: Value,
    outer_dims: Vec<Value>,
    /// The pinned sums ([`row::pinned_sums`]) carried from row to row.
    sums: Vec<Terms>,
    end: Value,
    exit: Block,
}

/// The form of one emitted point.
#[derive(Clone, Copy)]
enum Point<'a> {
    /// One output.
    Scalar,
    /// A vector of neighbouring outputs (the vector loop, no reduction).
    Vector,
    /// A vector of outputs whose reduction runs in lanes ([`pool`]).
    Lanes(&'a OutputLanes),
}

/// Which accesses of a kernel [`KernelEmitter::row_accesses`] plans.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accessed {
    /// The body's loads (indexed like the body; hoisted when the row does not move them).
    Loads,
    Stores,
}

impl KernelEmitter<'_, '_, '_> {
    /// Emits the whole function body for `kernel` into the builder (entry block included).
    pub fn emit(&mut self, kernel: &Kernel) -> Result<(), CodegenError> {
        let plan = plan::plan_kernel(self.program, kernel)?;
        let k = &plan.kernel;
        let (start, end) = self.entry(k);
        let exit = self.b.create_block();
        let n = k.dims.len();
        let width = self.idx.expr(self.b, &k.dims[n - 1])?;
        let mut outer_dims = vec![];
        for d in &k.dims[..n - 1] {
            outer_dims.push(self.idx.expr(self.b, d)?);
        }
        let has_work = self.b.ins().icmp(IntCC::SignedLessThan, start, end);
        let positive = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, width, 0);
        let go = self.b.ins().band(has_work, positive);
        let setup = self.b.create_block();
        self.b.ins().brif(go, setup, &[], exit, &[]);

        self.b.switch_to_block(setup);
        self.idx.set_fast_vars(row::fast_vars(k));
        let lanes = match &plan.form {
            RowForm::Lanes(lanes) => Some(lanes),
            _ => None,
        };
        let sums = row::pinned_sums(k, lanes, &self.idx);
        let rows = Rows {
            width,
            outer_dims,
            sums,
            end,
            exit,
        };
        self.row_loop(&plan, &rows, start)?;

        self.b.switch_to_block(exit);
        self.b.ins().return_(&[]);
        Ok(())
    }

    /// The entry block: the symbols and the base pointers of the buffers `k` uses are loaded
    /// once. Returns the task's `(start, end)`.
    fn entry(&mut self, k: &Kernel) -> (Value, Value) {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let params = self.b.block_params(entry).to_vec();
        let (bufs, syms, start, end) = (params[0], params[1], params[2], params[3]);
        let flags = MemFlagsData::new().with_notrap();
        for (i, name) in self.program.symbols.iter().enumerate() {
            let v = self.b.ins().load(types::I64, flags, syms, (i * 8) as i32);
            self.idx.bind(name, v);
        }
        let used: std::collections::BTreeSet<BufId> = k
            .loads()
            .map(|(b, _)| b)
            .chain(k.stores.iter().map(|s| s.buf))
            .collect();
        self.loads_never_written = k.loads().all(|(b, _)| k.stores.iter().all(|s| s.buf != b));
        for buf in used {
            let ptr = self
                .b
                .ins()
                .load(types::I64, flags, bufs, (buf as usize * 8) as i32);
            self.bases.insert(buf, ptr);
        }
        (start, end)
    }

    /// The loop over the rows of `[start, end)`: (row, col, flat) and the pinned sums are
    /// carried from row to row; each row runs its columns `[col, min(width, col + end -
    /// flat))`.
    fn row_loop(
        &mut self,
        plan: &KernelPlan,
        rows: &Rows,
        start: Value,
    ) -> Result<(), CodegenError> {
        let Rows {
            width,
            ref outer_dims,
            ref sums,
            end,
            exit,
        } = *rows;
        let row0 = self.b.ins().udiv(start, width);
        let row_start = self.b.ins().imul(row0, width);
        let col0 = self.b.ins().isub(start, row_start);
        let head = self.b.create_block();
        let (row, col, flat) = (
            self.b.append_block_param(head, types::I64),
            self.b.append_block_param(head, types::I64),
            self.b.append_block_param(head, types::I64),
        );
        let pinned: Vec<Value> = sums
            .iter()
            .map(|_| self.b.append_block_param(head, types::I64))
            .collect();
        let mut args = vec![arg(row0), arg(col0), arg(start)];
        args.extend(self.row_sums(row0, outer_dims, sums)?.into_iter().map(arg));
        self.b.ins().jump(head, &args);

        self.b.switch_to_block(head);
        let body = self.b.create_block();
        let more = self.b.ins().icmp(IntCC::SignedLessThan, flat, end);
        self.b.ins().brif(more, body, &[], exit, &[]);

        self.b.switch_to_block(body);
        let left_in_row = self.b.ins().isub(width, col);
        let left_in_range = self.b.ins().isub(end, flat);
        let count = self.b.ins().smin(left_in_row, left_in_range);
        let col_end = self.b.ins().iadd(col, count);
        self.idx.push();
        self.bind_outer_vars(row, outer_dims);
        for (terms, v) in sums.iter().zip(&pinned) {
            self.idx.pin(terms.clone(), *v);
        }
        self.row_columns(plan, (col, count, col_end))?;
        self.idx.pop();
        let next_row = self.b.ins().iadd_imm_s(row, 1);
        let zero = self.b.ins().iconst(types::I64, 0);
        let next_flat = self.b.ins().iadd(flat, count);
        let mut args = vec![arg(next_row), arg(zero), arg(next_flat)];
        args.extend(
            self.row_sums(next_row, outer_dims, sums)?
                .into_iter()
                .map(arg),
        );
        self.b.ins().jump(head, &args);
        Ok(())
    }

    /// The `count` columns `[col, col_end)` of the current row: the plan's row form, then
    /// the scalar points left.
    fn row_columns(
        &mut self,
        plan: &KernelPlan,
        (col, count, col_end): (Value, Value, Value),
    ) -> Result<(), CodegenError> {
        let k = &plan.kernel;
        let inner = outer_var(k.dims.len() - 1);
        let plans = RowAccesses {
            loads: self.row_accesses(k, &inner, Accessed::Loads)?,
            stores: self.row_accesses(k, &inner, Accessed::Stores)?,
        };
        let tail_start = match &plan.form {
            RowForm::Vector(compute, tiles) => {
                let first = match tiles {
                    Some(tiles) => self.tiled_columns(k, &inner, tiles, (col, col_end), &plans)?,
                    None => col,
                };
                self.vector_columns(k, &inner, *compute, (first, col_end), &plans)?
            }
            RowForm::Lanes(lanes) => self.interior_lanes(k, &inner, lanes, col, col_end, &plans)?,
            RowForm::WholeRows(rows) => self.whole_row(k, &inner, *rows, (col, count), &plans)?,
            RowForm::Points => col,
        };
        self.counted_loop(tail_start, col_end, 1, &mut |s: &mut Self, i| {
            s.emit_point(k, &inner, i, &plans, Point::Scalar)
        })?;
        Ok(())
    }

    /// The vector loop over the columns `[col, col_end)`; returns the first column left for
    /// the scalar tail.
    fn vector_columns(
        &mut self,
        k: &Kernel,
        inner: &str,
        compute: DType,
        (col, col_end): (Value, Value),
        plans: &RowAccesses,
    ) -> Result<Value, CodegenError> {
        // Two vectors per iteration: two independent dependency chains for the out-of-order
        // core (a fused exp/sigmoid chain is ~40 operations deep), then one more vector.
        let lanes = plan::vector_lanes(compute);
        let limit2 = self.b.ins().iadd_imm_s(col_end, -(2 * lanes - 1));
        let rest = self.counted_loop(col, limit2, 2 * lanes, &mut |s: &mut Self, i| {
            s.emit_point(k, inner, i, plans, Point::Vector)?;
            let next = s.b.ins().iadd_imm_s(i, lanes);
            s.emit_point(k, inner, next, plans, Point::Vector)
        })?;
        let limit = self.b.ins().iadd_imm_s(col_end, -(lanes - 1));
        self.counted_loop(rest, limit, lanes, &mut |s: &mut Self, i| {
            s.emit_point(k, inner, i, plans, Point::Vector)
        })
    }

    /// Binds the outer loop variables of row number `row` (innermost first: div/mod by the
    /// outer dims) in the current scope.
    fn bind_outer_vars(&mut self, row: Value, outer_dims: &[Value]) {
        let mut rem = row;
        for j in (0..outer_dims.len()).rev() {
            let v = if j == 0 {
                rem
            } else {
                let v = self.b.ins().urem(rem, outer_dims[j]);
                rem = self.b.ins().udiv(rem, outer_dims[j]);
                v
            };
            self.idx.bind(&outer_var(j), v);
        }
    }

    /// The pinned sums ([`row::pinned_sums`]) of row number `row`, in their order.
    fn row_sums(
        &mut self,
        row: Value,
        outer_dims: &[Value],
        sums: &[Terms],
    ) -> Result<Vec<Value>, CodegenError> {
        self.idx.push();
        self.bind_outer_vars(row, outer_dims);
        let mut out = Vec::with_capacity(sums.len());
        for terms in sums {
            let terms: Vec<(i64, &[Factor])> =
                terms.iter().map(|(c, f)| (*c, f.as_slice())).collect();
            let v = self.idx.sum_terms(self.b, &terms)?;
            out.push(v.unwrap_or_else(|| self.b.ins().iconst(types::I64, 0)));
        }
        self.idx.pop();
        Ok(out)
    }

    /// The row's columns `[col, col_end)` of a kernel whose reduction runs in lanes: scalar
    /// points up to the interior, vectors of outputs inside it; returns the first column left
    /// for the scalar tail.
    fn interior_lanes(
        &mut self,
        k: &Kernel,
        inner: &str,
        lanes: &OutputLanes,
        col: Value,
        col_end: Value,
        plans: &RowAccesses,
    ) -> Result<Value, CodegenError> {
        let mut lo = col;
        for x in &lanes.lower {
            let v = self.idx.expr(self.b, x)?;
            lo = self.b.ins().smax(lo, v);
        }
        lo = self.b.ins().smin(lo, col_end);
        let mut hi = col_end;
        for x in &lanes.upper {
            let v = self.idx.expr(self.b, x)?;
            hi = self.b.ins().smin(hi, v);
        }
        hi = self.b.ins().smax(hi, lo);
        let width = i64::from(compute_type(lanes.compute, Width::Vector).lane_count());
        self.counted_loop(col, lo, 1, &mut |s: &mut Self, i| {
            s.emit_point(k, inner, i, plans, Point::Scalar)
        })?;
        let limit = self.b.ins().iadd_imm_s(hi, -(width - 1));
        let done = self.counted_loop(lo, limit, width, &mut |s: &mut Self, i| {
            s.emit_point(k, inner, i, plans, Point::Lanes(lanes))
        })?;
        // Interior columns left over that do not fill a vector: one more vector ending at
        // `hi`, overlapping columns already done, instead of a scalar point each (a scalar
        // pooling point costs about as much as a vector). The overlap recomputes the same
        // values from the inputs (`loads_never_written`), and stays inside this task's
        // `[lo, hi)`.
        if !self.loads_never_written {
            return Ok(done);
        }
        let room = self.b.ins().isub(hi, lo);
        let fits = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, room, width);
        let left = self.b.ins().icmp(IntCC::SignedLessThan, done, hi);
        let go = self.b.ins().band(fits, left);
        let overlap = self.b.create_block();
        let join = self.b.create_block();
        let tail = self.b.append_block_param(join, types::I64);
        self.b.ins().brif(go, overlap, &[], join, &[arg(done)]);
        self.b.switch_to_block(overlap);
        let last = self.b.ins().iadd_imm_s(hi, -width);
        self.emit_point(k, inner, last, plans, Point::Lanes(lanes))?;
        self.b.ins().jump(join, &[arg(hi)]);
        self.b.switch_to_block(join);
        Ok(tail)
    }

    /// Per-row access plans of the body's loads or stores (`which`).
    fn row_accesses(
        &mut self,
        k: &Kernel,
        inner: &str,
        which: Accessed,
    ) -> Result<Vec<Option<Access>>, CodegenError> {
        let loads = which == Accessed::Loads;
        let offsets: Vec<Option<(BufId, &Expr, DType)>> = if loads {
            k.body
                .iter()
                .map(|i| match &i.op {
                    ScalarOp::Load { buf, offset } => Some((*buf, offset, i.dtype)),
                    _ => None,
                })
                .collect()
        } else {
            k.stores
                .iter()
                .map(|s| Some((s.buf, &s.offset, DType::F32)))
                .collect()
        };
        let mut out = Vec::with_capacity(offsets.len());
        for o in offsets {
            let Some((buf, off, dtype)) = o else {
                out.push(None);
                continue;
            };
            let access = match off.linear_in(inner) {
                Some((c, rest)) if loads && c.as_int() == Some(0) => {
                    let bdt = self.buffer_dtype(buf)?;
                    let offset = self.idx.expr(self.b, &rest)?;
                    let addr = memory::address(self.b, bdt, self.base(buf)?, offset);
                    let v = memory::load(self.b, bdt, addr, Width::Scalar)?;
                    Access::Hoisted(ops::convert(self.b, v, compute_type(dtype, Width::Scalar)))
                }
                Some((c, rest)) => Access::Linear {
                    coeff: self.idx.expr(self.b, &c)?,
                    coeff_const: c.as_int(),
                    rest: self.idx.expr(self.b, &rest)?,
                },
                None => Access::Full,
            };
            out.push(Some(access));
        }
        Ok(out)
    }

    /// The point(s) at inner position `i`, in the form `point`.
    fn emit_point(
        &mut self,
        k: &Kernel,
        inner: &str,
        i: Value,
        plans: &RowAccesses,
        point: Point,
    ) -> Result<(), CodegenError> {
        self.idx.push();
        self.idx.bind(inner, i);
        let reduced = match (&k.reduce, point) {
            (Some(_), Point::Lanes(lanes)) => Some(pool::emit_lanes(self, lanes)?),
            (Some(r), _) => Some(reduce::emit_reduction(self, r)?),
            (None, _) => None,
        };
        let width = match point {
            Point::Scalar => Width::Scalar,
            Point::Vector | Point::Lanes(_) => Width::Vector,
        };
        self.finish_point(k, i, plans, width, reduced)?;
        self.idx.pop();
        Ok(())
    }
}
