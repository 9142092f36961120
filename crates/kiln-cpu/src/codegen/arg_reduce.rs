//! `argmax`/`argmin` reductions: a scalar loop nest that carries the best value, its flat
//! position over the reduction dims (row-major) and a running position.
//!
//! An element replaces the best one when it is strictly greater (argmax) or smaller (argmin),
//! or when it is the first NaN: torch treats NaN as the extreme of both and returns the first
//! position of an extreme. The nest is never vectorised (the reductions are short and rare in
//! models; a lane-wise index select would need a horizontal first-index combine).
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::Variable;
use kiln_sched::{ReduceKind, Reduction, reduce_var};

use super::emitter::KernelEmitter;
use super::error::CodegenError;
use super::ops::{Width, compute_type, convert, fconst};

/// The loop-carried state of the nest.
struct State {
    best: Variable,
    index: Variable,
    position: Variable,
}

/// Emits the reduction at the current point; returns the index as an f64 (i64 values are
/// computed in f64).
pub(crate) fn emit(e: &mut KernelEmitter, red: &Reduction) -> Result<Value, CodegenError> {
    if !red.valid.is_empty() {
        return Err(CodegenError::UnsupportedWindowedReduction { kind: red.kind });
    }
    let ty = compute_type(red.acc, Width::Scalar);
    let largest = red.kind == ReduceKind::ArgMax;
    let state = State {
        best: e.b.declare_var(ty),
        index: e.b.declare_var(types::I64),
        position: e.b.declare_var(types::I64),
    };
    let init = fconst(
        e.b,
        ty,
        if largest {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
    );
    let zero = e.b.ins().iconst(types::I64, 0);
    e.b.def_var(state.best, init);
    e.b.def_var(state.index, zero);
    e.b.def_var(state.position, zero);
    let mut dims = Vec::with_capacity(red.dims.len());
    for d in &red.dims {
        dims.push(e.idx.expr(e.b, d)?);
    }
    nest(e, red, &state, &dims, 0, largest)?;
    let index = e.b.use_var(state.index);
    Ok(e.b.ins().fcvt_from_sint(types::F64, index))
}

fn nest(
    e: &mut KernelEmitter,
    red: &Reduction,
    state: &State,
    dims: &[Value],
    level: usize,
    largest: bool,
) -> Result<(), CodegenError> {
    if level == dims.len() {
        return element(e, red, state, largest);
    }
    let var = reduce_var(level);
    let zero = e.b.ins().iconst(types::I64, 0);
    e.counted_loop(zero, dims[level], 1, &mut |e: &mut KernelEmitter, r| {
        e.idx.push();
        e.idx.bind(&var, r);
        let res = nest(e, red, state, dims, level + 1, largest);
        e.idx.pop();
        res
    })?;
    Ok(())
}

/// One element: evaluate the body, compare, select, advance the position.
fn element(
    e: &mut KernelEmitter,
    red: &Reduction,
    state: &State,
    largest: bool,
) -> Result<(), CodegenError> {
    e.idx.push();
    let at = e.b.ins().iconst(types::I64, 0);
    let vals = e.emit_instrs(&red.body, None, at, Width::Scalar, None);
    e.idx.pop();
    let vals = vals?;
    let v = *vals
        .get(red.value as usize)
        .ok_or(CodegenError::UndefinedReductionValue { id: red.value })?;
    let best = e.b.use_var(state.best);
    let v = convert(e.b, v, e.b.func.dfg.value_type(best));
    let cc = if largest {
        FloatCC::GreaterThan
    } else {
        FloatCC::LessThan
    };
    // take = (v > best || v is NaN) && best is not NaN
    let better = e.b.ins().fcmp(cc, v, best);
    let v_nan = e.b.ins().fcmp(FloatCC::Unordered, v, v);
    let best_ok = e.b.ins().fcmp(FloatCC::Ordered, best, best);
    let wins = e.b.ins().bor(better, v_nan);
    let take = e.b.ins().band(wins, best_ok);
    let position = e.b.use_var(state.position);
    let index = e.b.use_var(state.index);
    let new_best = e.b.ins().select(take, v, best);
    let new_index = e.b.ins().select(take, position, index);
    let next = e.b.ins().iadd_imm_s(position, 1);
    e.b.def_var(state.best, new_best);
    e.b.def_var(state.index, new_index);
    e.b.def_var(state.position, next);
    Ok(())
}
