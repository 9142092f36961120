//! Planning of reductions computed in lanes over the inner output dim (pooling); the
//! emission is [`crate::codegen::pool`], whose module docs describe the scheme.
use kiln_ir::DType;
use kiln_sched::{Kernel, ReduceKind, Reduction, ScalarOp, reduce_var};
use kiln_shape::{CmpOp, Cond, Expr};

use super::body_simd_compute;
use super::vectorizable;
use super::window::plan_windows;

/// f32 window sums in f32 lanes: 64 elements keep the error near 64 ulp of the partial sums,
/// well inside the f32 tolerance; larger windows use the scalar path's f64 accumulation.
const MAX_F32_SUM_WINDOW: i64 = 64;

/// Innermost window rows of at most this many elements are unrolled.
pub(crate) const MAX_UNROLLED_ROW: i64 = 8;

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
    let compute = body_simd_compute(k, buffer_dtype)?;
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
