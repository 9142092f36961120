//! The reduction loop nest run at one output point.
//!
//! The accumulator starts at 0 / -inf / +inf. A `valid` condition that is linear in one
//! reduction variable with coefficient ±1 (pooling's padding and window ends, adaptive
//! windows) becomes a bound of that variable's loop, computed once before the loop
//! ([`super::plan::window`]): the interior then runs without a branch per element and padding is
//! never loaded. Other conditions are checked per element by a branch. Load offsets are split
//! as `coeff * r + rest` over the innermost reduction variable `r`, with `rest` computed once
//! per run of the innermost loop (strength reduction).
//!
//! When the innermost run reads contiguous (or broadcast) elements and computes in one float
//! type, it is a 128-bit vector loop with a scalar tail: a sum accumulates in two f64x2
//! accumulators (f32 lanes promoted; short constant f32 runs are summed in f32 lanes first and
//! promoted once per run), max/min in a vector of the compute type; the vector accumulators
//! live across the whole nest and are combined into the scalar accumulator once per point.
//! A constant innermost run of at most 64 elements that no window condition bounds (adaptive
//! pooling with equal windows, a short `sum` over the last dim) is emitted straight-line: its
//! vectors are loaded at constant offsets and combined as a tree, with no loop and no
//! dependency chain (2x the in-cache throughput of the loop). f32 sums accumulate in f64: a
//! sequential f32 sum of 70K elements drifts by ~1e-4 relative, while PyTorch's
//! pairwise/vectorised sums (and the interpreter) stay near the exact value.
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Type, Value, types};
use cranelift_frontend::Variable;
use kiln_ir::DType;
use kiln_sched::{ReduceKind, Reduction, ScalarOp, reduce_var};

use super::emitter::{Access, KernelEmitter};
use super::error::CodegenError;
use super::ops::{Width, bitcast, compute_type, convert, fconst};
use super::plan::reduce::{unrolled_vectors, vector_compute};
use super::plan::window::{WindowPlan, plan_windows};

/// Emits the reduction at the current point and returns the accumulated value (scalar).
pub(crate) fn emit_reduction(
    e: &mut KernelEmitter,
    red: &Reduction,
) -> Result<Value, CodegenError> {
    if red.kind.is_arg() {
        return super::arg_reduce::emit(e, red);
    }
    let ty = accumulator_type(red);
    let acc = e.b.declare_var(ty);
    let init = fconst(e.b, ty, identity(red.kind));
    e.b.def_var(acc, init);
    let mut dims = Vec::with_capacity(red.dims.len());
    for d in &red.dims {
        dims.push(e.idx.expr(e.b, d)?);
    }
    let plan = plan_windows(red);
    let vector = vector_compute(e.program, red, &plan)?.map(|c| VectorAccs::new(e, red, c));
    if dims.is_empty() {
        element(e, red, &plan, None, acc)?;
    } else {
        nest(e, red, &plan, vector.as_ref(), &dims, 0, acc)?;
    }
    if let Some(v) = &vector {
        v.combine_into(e, red, acc);
    }
    let total = e.b.use_var(acc);
    Ok(convert(e.b, total, compute_type(red.acc, Width::Scalar)))
}

pub(crate) fn identity(kind: ReduceKind) -> f64 {
    match kind {
        ReduceKind::Sum => 0.0,
        ReduceKind::Max | ReduceKind::ArgMax => f64::NEG_INFINITY,
        ReduceKind::Min | ReduceKind::ArgMin => f64::INFINITY,
    }
}

pub(crate) fn accumulator_type(red: &Reduction) -> Type {
    match red.kind {
        ReduceKind::Sum => types::F64,
        _ => compute_type(red.acc, Width::Scalar),
    }
}

fn combine(e: &mut KernelEmitter, kind: ReduceKind, a: Value, v: Value) -> Value {
    match kind {
        ReduceKind::Sum => e.b.ins().fadd(a, v),
        // Arg reductions have their own emitter (`arg_reduce`) and never combine here.
        ReduceKind::Max | ReduceKind::ArgMax => e.b.ins().fmax(a, v),
        ReduceKind::Min | ReduceKind::ArgMin => e.b.ins().fmin(a, v),
    }
}

/// Access plans of the reduction body's loads along `var` (indexed like the body). Loads are
/// never hoisted out of the loop: a window may be empty, and its elements may lie in padding.
pub(crate) fn accesses(
    e: &mut KernelEmitter,
    red: &Reduction,
    var: &str,
) -> Result<Vec<Option<Access>>, CodegenError> {
    let mut out = Vec::with_capacity(red.body.len());
    for instr in &red.body {
        let ScalarOp::Load { offset, .. } = &instr.op else {
            out.push(None);
            continue;
        };
        out.push(Some(match offset.linear_in(var) {
            Some((c, rest)) => Access::Linear {
                coeff: e.idx.expr(e.b, &c)?,
                coeff_const: c.as_int(),
                rest: e.idx.expr(e.b, &rest)?,
            },
            None => Access::Full,
        }));
    }
    Ok(out)
}

fn nest(
    e: &mut KernelEmitter,
    red: &Reduction,
    plan: &WindowPlan,
    vector: Option<&VectorAccs>,
    dims: &[Value],
    level: usize,
    acc: Variable,
) -> Result<(), CodegenError> {
    let (lo, hi) = plan.bounds(e, level, &red.dims[level])?;
    let var = reduce_var(level);
    let innermost = level + 1 == dims.len();
    if !innermost {
        e.counted_loop(lo, hi, 1, &mut |e: &mut KernelEmitter, r| {
            e.idx.push();
            e.idx.bind(&var, r);
            let res = nest(e, red, plan, vector, dims, level + 1, acc);
            e.idx.pop();
            res
        })?;
        return Ok(());
    }
    let loads = accesses(e, red, &var)?;
    let mut tail = lo;
    if let Some(v) = vector {
        match unrolled_vectors(red, plan, v.compute) {
            Some((vectors, remainder)) => {
                tail = unrolled_vector_run(e, red, &loads, v, lo, vectors)?;
                if remainder == 0 {
                    return Ok(());
                }
            }
            None => tail = vector_run(e, red, &loads, v, lo, hi)?,
        }
    }
    e.counted_loop(tail, hi, 1, &mut |e: &mut KernelEmitter, r| {
        e.idx.push();
        e.idx.bind(&var, r);
        let res = element(e, red, plan, Some((&loads, r)), acc);
        e.idx.pop();
        res
    })?;
    Ok(())
}

/// Vector accumulators held across the whole reduction nest (combined into the scalar
/// accumulator once, after it): sums in f64x2 (two for f32 lanes, promoted), max/min in the
/// compute type.
pub(crate) struct VectorAccs {
    compute: DType,
    acc_ty: Type,
    vars: Vec<Variable>,
    /// f32 sums whose innermost run is a constant of at most this many elements add it up in
    /// f32 lanes first and promote once per run (16 adds per lane at most: far inside the
    /// f32 tolerance), instead of promoting every vector.
    f32_partial_runs: bool,
}

/// Longest innermost run summed in f32 lanes before promotion (see [`VectorAccs`]).
const MAX_F32_PARTIAL_RUN: i64 = 64;

impl VectorAccs {
    pub(crate) fn new(e: &mut KernelEmitter, red: &Reduction, compute: DType) -> Self {
        let vty = compute_type(compute, Width::Vector);
        let sum = red.kind == ReduceKind::Sum;
        let acc_ty = if sum { types::F64X2 } else { vty };
        let parts = if sum && compute != DType::F64 { 2 } else { 1 };
        let vars = (0..parts)
            .map(|_| {
                let v = e.b.declare_var(acc_ty);
                let init = fconst(e.b, acc_ty, identity(red.kind));
                e.b.def_var(v, init);
                v
            })
            .collect();
        let f32_partial_runs = parts == 2
            && red
                .dims
                .last()
                .and_then(|d| d.as_int())
                .is_some_and(|d| d <= MAX_F32_PARTIAL_RUN);
        VectorAccs {
            compute,
            acc_ty,
            vars,
            f32_partial_runs,
        }
    }

    /// Adds (or max/mins) a vector of the compute type into the accumulators.
    fn add(&self, e: &mut KernelEmitter, kind: ReduceKind, v: Value) {
        let halves = if self.vars.len() == 2 {
            vec![convert(e.b, v, types::F64X2), high_half_f64(e, v)]
        } else {
            vec![convert(e.b, v, self.acc_ty)]
        };
        for (var, h) in self.vars.iter().zip(halves) {
            let a = e.b.use_var(*var);
            let c = combine(e, kind, a, h);
            e.b.def_var(*var, c);
        }
    }

    pub(crate) fn combine_into(&self, e: &mut KernelEmitter, red: &Reduction, acc: Variable) {
        let scalar_ty = accumulator_type(red);
        let mut total = e.b.use_var(acc);
        for var in &self.vars {
            let v = e.b.use_var(*var);
            for lane in 0..self.acc_ty.lane_count() as u8 {
                let x = e.b.ins().extractlane(v, lane);
                let x = convert(e.b, x, scalar_ty);
                total = combine(e, red.kind, total, x);
            }
        }
        e.b.def_var(acc, total);
    }
}

/// The vector part of a short constant innermost run starting at `lo`, unrolled: `vectors`
/// loads at constant offsets combined as a balanced tree (independent adds instead of one
/// dependency chain, and for f32 sums one promotion to f64 per run), then added into `accs`.
/// Returns the first position left for the scalar tail.
pub(crate) fn unrolled_vector_run(
    e: &mut KernelEmitter,
    red: &Reduction,
    loads: &[Option<Access>],
    accs: &VectorAccs,
    lo: Value,
    vectors: i64,
) -> Result<Value, CodegenError> {
    let var = reduce_var(red.dims.len() - 1);
    let lanes = i64::from(compute_type(accs.compute, Width::Vector).lane_count());
    let mut parts = Vec::with_capacity(vectors as usize);
    for j in 0..vectors {
        // Contiguous loads are at `rest + r`: constant displacements from one row address.
        let r = e.b.ins().iadd_imm_s(lo, j * lanes);
        e.idx.push();
        e.idx.bind(&var, r);
        let vals = e.emit_instrs(&red.body, Some(loads), r, Width::Vector, None);
        e.idx.pop();
        let vals = vals?;
        parts.push(
            *vals
                .get(red.value as usize)
                .ok_or(CodegenError::UndefinedReductionValue { id: red.value })?,
        );
    }
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        for pair in parts.chunks(2) {
            next.push(match pair.get(1) {
                Some(&second) => combine(e, red.kind, pair[0], second),
                None => pair[0],
            });
        }
        parts = next;
    }
    if let Some(&v) = parts.first() {
        accs.add(e, red.kind, v);
    }
    Ok(e.b.ins().iadd_imm_s(lo, vectors * lanes))
}

/// The vector part of the innermost run over `[lo, hi)`: whole vectors only, into `accs`;
/// returns the first position left for the scalar tail.
fn vector_run(
    e: &mut KernelEmitter,
    red: &Reduction,
    loads: &[Option<Access>],
    accs: &VectorAccs,
    lo: Value,
    hi: Value,
) -> Result<Value, CodegenError> {
    let var = reduce_var(red.dims.len() - 1);
    let vty = compute_type(accs.compute, Width::Vector);
    let lanes = i64::from(vty.lane_count());
    let partial = accs.f32_partial_runs.then(|| {
        let p = e.b.declare_var(vty);
        let zero = fconst(e.b, vty, 0.0);
        e.b.def_var(p, zero);
        p
    });
    let limit = e.b.ins().iadd_imm_s(hi, -(lanes - 1));
    // Contiguous loads walk a loop-carried offset (`rest + r`, advanced by one vector per
    // iteration): Cranelift would otherwise recompute `rest` in the loop body.
    let mut starts = vec![lo];
    for a in loads.iter().flatten() {
        if let Access::Linear {
            coeff_const: Some(1),
            rest,
            ..
        } = a
        {
            starts.push(e.b.ins().iadd(*rest, lo));
        }
    }
    let head = e.b.create_block();
    let carried: Vec<Value> = starts
        .iter()
        .map(|_| e.b.append_block_param(head, types::I64))
        .collect();
    let body = e.b.create_block();
    let exit = e.b.create_block();
    let tail = e.b.append_block_param(exit, types::I64);
    let args: Vec<BlockArg> = starts.iter().map(|v| BlockArg::Value(*v)).collect();
    e.b.ins().jump(head, &args);
    e.b.switch_to_block(head);
    let r = carried[0];
    let more = e.b.ins().icmp(IntCC::SignedLessThan, r, limit);
    e.b.ins().brif(more, body, &[], exit, &[BlockArg::Value(r)]);
    e.b.switch_to_block(body);
    let walked = walked_accesses(loads, &carried[1..]);
    e.idx.push();
    e.idx.bind(&var, r);
    let vals = e.emit_instrs(&red.body, Some(&walked), r, Width::Vector, None);
    e.idx.pop();
    let vals = vals?;
    let v = *vals
        .get(red.value as usize)
        .ok_or(CodegenError::UndefinedReductionValue { id: red.value })?;
    match partial {
        Some(p) => {
            let a = e.b.use_var(p);
            let sum = e.b.ins().fadd(a, v);
            e.b.def_var(p, sum);
        }
        None => accs.add(e, red.kind, v),
    }
    let next: Vec<BlockArg> = carried
        .iter()
        .map(|c| BlockArg::Value(e.b.ins().iadd_imm_s(*c, lanes)))
        .collect();
    e.b.ins().jump(head, &next);
    e.b.switch_to_block(exit);
    if let Some(p) = partial {
        let v = e.b.use_var(p);
        accs.add(e, red.kind, v);
    }
    Ok(tail)
}

/// `loads` with each contiguous access replaced by its loop-carried offset in `offsets`
/// (in order).
fn walked_accesses(loads: &[Option<Access>], offsets: &[Value]) -> Vec<Option<Access>> {
    let mut offsets = offsets.iter();
    loads
        .iter()
        .map(|a| match a {
            Some(Access::Linear {
                coeff_const: Some(1),
                ..
            }) => offsets.next().map(|v| Access::At(*v)),
            other => other.clone(),
        })
        .collect()
}

/// Lanes 2 and 3 of an f32x4, promoted to f64x2.
fn high_half_f64(e: &mut KernelEmitter, v: Value) -> Value {
    let bytes = bitcast(e.b, types::I8X16, v);
    let mask: Vec<u8> = (8..16).chain(8..16).collect();
    let mask = e.b.func.dfg.immediates.push(mask.into());
    let moved = e.b.ins().shuffle(bytes, bytes, mask);
    let moved = bitcast(e.b, types::F32X4, moved);
    e.b.ins().fvpromote_low(moved)
}

/// One reduction element (scalar): check the residual conditions, then evaluate the body and
/// combine. `loads`: the innermost run's access plans and position.
pub(crate) fn element(
    e: &mut KernelEmitter,
    red: &Reduction,
    plan: &WindowPlan,
    loads: Option<(&[Option<Access>], Value)>,
    acc: Variable,
) -> Result<(), CodegenError> {
    let mut all: Option<Value> = None;
    for c in &plan.residual {
        let v = e.idx.cond(e.b, c)?;
        all = Some(match all {
            None => v,
            Some(a) => e.b.ins().band(a, v),
        });
    }
    let skip = e.b.create_block();
    if let Some(all) = all {
        let take = e.b.create_block();
        e.b.ins().brif(all, take, &[], skip, &[]);
        e.b.switch_to_block(take);
    }
    e.idx.push();
    let (plans, i) = match loads {
        Some((l, i)) => (Some(l), i),
        None => (None, e.b.ins().iconst(types::I64, 0)),
    };
    let vals = e.emit_instrs(&red.body, plans, i, Width::Scalar, None)?;
    e.idx.pop();
    let v = *vals
        .get(red.value as usize)
        .ok_or(CodegenError::UndefinedReductionValue { id: red.value })?;
    let v = convert(e.b, v, accumulator_type(red));
    let a = e.b.use_var(acc);
    let combined = combine(e, red.kind, a, v);
    e.b.def_var(acc, combined);
    e.b.ins().jump(skip, &[]);
    e.b.switch_to_block(skip);
    Ok(())
}
