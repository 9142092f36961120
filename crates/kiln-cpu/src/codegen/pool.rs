//! Reductions computed for four (f32) or two (f64) neighbouring outputs at once: pooling.
//!
//! A pooling kernel reduces a small window per output point; vectorising the window itself
//! (3 elements wide) gains nothing, so the lanes run over the innermost *output* dim instead.
//! Lane `l` of output column `o` reads the element at `offset(o) + l * s`, where `s` is the
//! load's constant stride along that dim (2 for a stride-2 pooling): one vector load for
//! `s = 1`, two loads and a shuffle for `s = 2` (f32), single loads into lanes otherwise.
//!
//! Only *interior* columns run in lanes: those where every window condition that mentions the
//! output column holds for the whole window box. Such a condition, linear in the column `o`
//! (coefficient `a`) and in each reduction variable `r_j` (constant `b_j`, `r_j` in
//! `[0, R_j)`), reduces at its worst corner of the box to `a*o + h >= 0`, a half-line of
//! columns; their intersection is the interior `[c0, c1)`, computed once per row. The border
//! columns keep the scalar path (bounded loops, padding never loaded). Conditions that do not
//! mention the column are shared by all lanes and stay loop bounds.
//!
//! Max/min combine with a compare+select (one `maxps`/`minps`) plus a NaN flag per lane
//! (`x != x` or-ed up), applied once after the window: PyTorch's max pooling propagates NaN.
//! f32 sums accumulate in f32 lanes, so they are planned only for constant windows of at most
//! `MAX_F32_SUM_WINDOW` elements (`plan::lanes`).
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use kiln_sched::{ReduceKind, Reduction, reduce_var};

use super::emitter::{Access, KernelEmitter};
use super::error::CodegenError;
use super::ops::{self, Width, bitcast, compute_type, fconst};
use super::plan::lanes::{MAX_UNROLLED_ROW, OutputLanes};
use super::plan::window::plan_windows;
use super::reduce;

/// Emits the reduction for the lanes starting at output column `i` (bound by the caller) and
/// returns the accumulated vector.
pub(crate) fn emit_lanes(
    e: &mut KernelEmitter,
    lanes: &OutputLanes,
) -> Result<Value, CodegenError> {
    let red = &lanes.interior;
    let vty = compute_type(lanes.compute, Width::Vector);
    let acc = e.b.declare_var(vty);
    let init = fconst(e.b, vty, reduce::identity(red.kind));
    e.b.def_var(acc, init);
    let nan = e.b.declare_var(vty);
    let zero = fconst(e.b, vty, 0.0);
    e.b.def_var(nan, zero);
    let mut dims = Vec::with_capacity(red.dims.len());
    for d in &red.dims {
        dims.push(e.idx.expr(e.b, d)?);
    }
    let windows = plan_windows(red);
    nest(e, lanes, &windows, &dims, 0, acc, nan)?;
    let total = e.b.use_var(acc);
    if red.kind == ReduceKind::Sum {
        return Ok(total);
    }
    let flags = e.b.use_var(nan);
    let any_nan = e.b.ins().fcmp(FloatCC::NotEqual, flags, zero);
    let nan_value = fconst(e.b, vty, f64::NAN);
    Ok(ops::select(e.b, any_nan, nan_value, total))
}

fn nest(
    e: &mut KernelEmitter,
    lanes: &OutputLanes,
    windows: &super::plan::window::WindowPlan,
    dims: &[Value],
    level: usize,
    acc: cranelift_frontend::Variable,
    nan: cranelift_frontend::Variable,
) -> Result<(), CodegenError> {
    let red = &lanes.interior;
    let (lo, hi) = windows.bounds(e, level, &red.dims[level])?;
    let var = reduce_var(level);
    let innermost = level + 1 == dims.len();
    let loads = if innermost {
        let plans = reduce::accesses(e, red, &var)?;
        plans
            .into_iter()
            .zip(&lanes.strides)
            .map(|(a, s)| match (a, s) {
                (Some(a), Some(stride)) => Some(Access::Strided {
                    along: Box::new(a),
                    lane_stride: *stride,
                }),
                (a, _) => a,
            })
            .collect()
    } else {
        vec![]
    };
    // A short unbounded innermost window row (a 3-wide pooling window) is unrolled: no loop
    // overhead per element, and the loads' constant offsets fold into addressing.
    let unrolled = red.dims[level]
        .as_int()
        .filter(|d| innermost && windows.is_full(level) && (0..=MAX_UNROLLED_ROW).contains(d));
    if let Some(d) = unrolled {
        for r in 0..d {
            let r = e.b.ins().iconst(types::I64, r);
            e.idx.push();
            e.idx.bind(&var, r);
            let res = element(e, red, &loads, r, acc, nan);
            e.idx.pop();
            res?;
        }
        return Ok(());
    }
    e.counted_loop(lo, hi, 1, &mut |e: &mut KernelEmitter, r| {
        e.idx.push();
        e.idx.bind(&var, r);
        let res = if innermost {
            element(e, red, &loads, r, acc, nan)
        } else {
            nest(e, lanes, windows, dims, level + 1, acc, nan)
        };
        e.idx.pop();
        res
    })?;
    Ok(())
}

/// One window element for all lanes: evaluate the body, combine into `acc`, flag NaNs.
fn element(
    e: &mut KernelEmitter,
    red: &Reduction,
    loads: &[Option<Access>],
    r: Value,
    acc: cranelift_frontend::Variable,
    nan: cranelift_frontend::Variable,
) -> Result<(), CodegenError> {
    let vals = e.emit_instrs(&red.body, Some(loads), r, Width::Vector, None)?;
    let v = *vals
        .get(red.value as usize)
        .ok_or(CodegenError::UndefinedReductionValue { id: red.value })?;
    let a = e.b.use_var(acc);
    let combined = match red.kind {
        ReduceKind::Sum => e.b.ins().fadd(a, v),
        // A NaN `v` is dropped here (it compares false) and recorded in the flag instead.
        // Arg reductions are never planned in lanes (`plan`).
        ReduceKind::Max | ReduceKind::ArgMax => ops::max_with_non_nan(e.b, a, v),
        ReduceKind::Min | ReduceKind::ArgMin => ops::min_with_non_nan(e.b, a, v),
    };
    e.b.def_var(acc, combined);
    if red.kind != ReduceKind::Sum {
        let is_nan = e.b.ins().fcmp(FloatCC::Unordered, v, v);
        let ty = ops::ty_of(e.b, v);
        let is_nan = bitcast(e.b, ty, is_nan);
        let flags = e.b.use_var(nan);
        let flags = e.b.ins().bor(flags, is_nan);
        e.b.def_var(nan, flags);
    }
    Ok(())
}
