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
//! [`MAX_F32_SUM_WINDOW`] elements.
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use kiln_ir::DType;
use kiln_sched::{Kernel, ReduceKind, Reduction, ScalarOp, reduce_var};
use kiln_shape::{CmpOp, Cond, Expr};

use super::kernel::{Access, KernelEmitter};
use super::memory::{self, vectorizable};
use super::ops::{self, bitcast, compute_type, fconst};
use super::plan;
use super::reduce;
use super::window::plan_windows;

/// f32 window sums in f32 lanes: 64 elements keep the error near 64 ulp of the partial sums,
/// well inside the f32 tolerance; larger windows use the scalar path's f64 accumulation.
const MAX_F32_SUM_WINDOW: i64 = 64;

/// Innermost window rows of at most this many elements are unrolled.
const MAX_UNROLLED_ROW: i64 = 8;

/// How a kernel's reduction runs in lanes over the inner output dim.
pub(crate) struct OutputLanes {
    pub compute: DType,
    /// Inclusive lower bounds of the interior columns (outer variables and symbols only).
    pub lower: Vec<Expr>,
    /// Exclusive upper bounds of the interior columns.
    pub upper: Vec<Expr>,
    /// The reduction with the conditions that mention the output column removed.
    pub interior: Reduction,
    /// Per reduction-body instruction: the stride of a load along the output column.
    pub strides: Vec<Option<i64>>,
}

/// The lane plan of `k`, or `None` when its reduction does not fit (see the module docs).
pub(crate) fn plan(k: &Kernel, buffer_dtype: &dyn Fn(u32) -> DType) -> Option<OutputLanes> {
    let red = k.reduce.as_ref()?;
    let inner = kiln_sched::outer_var(k.dims.len().checked_sub(1)?);
    let compute = plan::body_simd_compute(k, buffer_dtype)?;
    if red.acc.compute() != compute || red.dims.is_empty() || red.kind.is_arg() {
        return None;
    }
    if red.kind == ReduceKind::Sum && compute != DType::F64 {
        let window = red
            .dims
            .iter()
            .try_fold(1i64, |acc, d| acc.checked_mul(d.as_int()?))?;
        if window > MAX_F32_SUM_WINDOW {
            return None;
        }
    }
    let mut strides = Vec::with_capacity(red.body.len());
    for instr in &red.body {
        if instr.dtype.compute() != compute {
            return None;
        }
        strides.push(match &instr.op {
            ScalarOp::Load { buf, offset } => {
                let stride = offset.linear_in(&inner)?.0.as_int()?;
                let dtype = buffer_dtype(*buf);
                let widened = matches!(dtype, DType::F16 | DType::BF16);
                if stride < 0 || !vectorizable(dtype, compute) || (widened && stride > 1) {
                    return None;
                }
                Some(stride)
            }
            ScalarOp::Index(e) if e.mentions(&inner) => return None,
            ScalarOp::Reduced => return None,
            _ => None,
        });
    }
    let (mut lower, mut upper, mut kept) = (vec![], vec![], vec![]);
    for c in &red.valid {
        if !c.lhs().mentions(&inner) && !c.rhs().mentions(&inner) {
            kept.push(c.clone());
            continue;
        }
        let (a, h) = half_line(c, red, &inner)?;
        // a*o + h >= 0: o >= ceil(-h/a) for a > 0, o <= floor(h/-a) for a < 0.
        if a > 0 {
            lower.push((&(-&h) + &Expr::int(a - 1)).floor_div(&Expr::int(a)));
        } else {
            upper.push(&h.floor_div(&Expr::int(-a)) + &Expr::int(1));
        }
    }
    let interior = Reduction {
        valid: kept,
        ..red.clone()
    };
    // Conditions shared by all lanes must become loop bounds: no per-element branches.
    if !plan_windows(&interior).residual.is_empty() {
        return None;
    }
    Some(OutputLanes {
        compute,
        lower,
        upper,
        interior,
        strides,
    })
}

/// `c` at its worst corner of the reduction box as `a*o + h >= 0` (`o` the output column):
/// `None` unless `c` is linear in `o` with a constant nonzero coefficient and in every
/// reduction variable with constant coefficients.
fn half_line(c: &Cond, red: &Reduction, inner: &str) -> Option<(i64, Expr)> {
    let f = c.lhs() - c.rhs();
    let (a, mut rest) = f.linear_in(inner)?;
    let a = a.as_int().filter(|a| *a != 0)?;
    // Normalise to `a*o + g >= 0` (`at_least`) or `a*o + g < 0`, over the integers.
    let (at_least, shift) = match c.op() {
        CmpOp::Ge => (true, 0),
        CmpOp::Gt => (true, -1),
        CmpOp::Lt => (false, 0),
        CmpOp::Le => (false, -1),
        CmpOp::Eq | CmpOp::Ne => return None,
    };
    rest = &rest + &Expr::int(shift);
    // The worst value of sum(b_j * r_j) over the box: its minimum for `>= 0`, its maximum for
    // `< 0` (an empty box has no elements, so any value is safe there).
    for (j, dim) in red.dims.iter().enumerate() {
        let (b, g) = rest.linear_in(&reduce_var(j))?;
        let b = b.as_int()?;
        let far = &Expr::int(b) * &(dim - &Expr::int(1));
        rest = if (b < 0) == at_least { &g + &far } else { g };
    }
    if (0..red.dims.len()).any(|j| rest.mentions(&reduce_var(j))) {
        return None;
    }
    Some(if at_least {
        (a, rest)
    } else {
        // a*o + g < 0  <=>  -a*o - g - 1 >= 0
        (-a, &(-&rest) - &Expr::int(1))
    })
}

/// Emits the reduction for the lanes starting at output column `i` (bound by the caller) and
/// returns the accumulated vector.
pub(crate) fn emit_lanes(e: &mut KernelEmitter, lanes: &OutputLanes) -> Result<Value, String> {
    let red = &lanes.interior;
    let vty = compute_type(lanes.compute, true);
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
    windows: &super::window::WindowPlan,
    dims: &[Value],
    level: usize,
    acc: cranelift_frontend::Variable,
    nan: cranelift_frontend::Variable,
) -> Result<(), String> {
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
) -> Result<(), String> {
    let vals = e.emit_instrs(&red.body, Some(loads), r, true, None)?;
    let v = *vals
        .get(red.value as usize)
        .ok_or_else(|| format!("reduction value {} is undefined", red.value))?;
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

/// Loads the lanes `offset + l * stride` of a buffer of `dtype`, widened to `ty` (a vector).
pub(crate) fn strided_load(
    e: &mut KernelEmitter,
    dtype: DType,
    base: Value,
    offset: Value,
    stride: i64,
    ty: cranelift_codegen::ir::Type,
) -> Result<Value, String> {
    let lane_count = i64::from(ty.lane_count());
    match stride {
        0 => {
            let addr = memory::address(e.b, dtype, base, offset);
            let v = memory::load(e.b, dtype, addr, false)?;
            let v = ops::convert(e.b, v, ty.lane_type());
            Ok(e.b.ins().splat(ty, v))
        }
        1 => {
            let addr = memory::address(e.b, dtype, base, offset);
            memory::load(e.b, dtype, addr, true)
        }
        // Elements 0, 2, 4, 6: lanes 0 and 2 of the vector at 0, then lanes 1 and 3 of the
        // vector at 3 (never reading past element 6, the last one the window touches).
        2 if ty == types::F32X4 && dtype == DType::F32 => {
            let addr = memory::address(e.b, dtype, base, offset);
            let first = memory::load(e.b, dtype, addr, true)?;
            let second_off = e.b.ins().iadd_imm_s(offset, 3);
            let addr = memory::address(e.b, dtype, base, second_off);
            let second = memory::load(e.b, dtype, addr, true)?;
            let (x, y) = (
                bitcast(e.b, types::I8X16, first),
                bitcast(e.b, types::I8X16, second),
            );
            // Shuffle bytes: 0..16 from `x`, 16..32 from `y`.
            let mask: Vec<u8> = [0u8, 8, 20, 28]
                .iter()
                .flat_map(|&start| start..start + 4)
                .collect();
            let mask = e.b.func.dfg.immediates.push(mask.into());
            let picked = e.b.ins().shuffle(x, y, mask);
            Ok(bitcast(e.b, ty, picked))
        }
        _ => {
            let mut v: Option<Value> = None;
            for lane in 0..lane_count {
                let off = e.b.ins().iadd_imm_s(offset, lane * stride);
                let addr = memory::address(e.b, dtype, base, off);
                let x = memory::load(e.b, dtype, addr, false)?;
                let x = ops::convert(e.b, x, ty.lane_type());
                v = Some(match v {
                    None => e.b.ins().scalar_to_vector(ty, x),
                    Some(v) => e.b.ins().insertlane(v, x, lane as u8),
                });
            }
            v.ok_or_else(|| "a vector without lanes".to_string())
        }
    }
}
