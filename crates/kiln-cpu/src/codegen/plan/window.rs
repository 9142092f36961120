//! Reduction windows: `valid` conditions turned into loop bounds.
//!
//! Pooling guards each window element with conditions such as `o*2 - 1 + r >= 0` and
//! `o*2 - 1 + r < H`; adaptive pooling with `r < end - start`. A condition that is linear in
//! one reduction variable `r` (its deepest one) with coefficient +1 or -1 says that `r` lies
//! above or below a value computed from outer variables only, so it bounds `r`'s loop:
//! `[max(0, lo...), min(dim, hi...))`, computed once before the loop. The interior of the
//! window then runs without a per-element branch, and elements outside (padding) are never
//! visited, exactly as the per-element branch did. Other conditions stay per element.
use kiln_sched::{Reduction, reduce_var};
use kiln_shape::{CmpOp, Cond, Expr};

/// Loop bounds per reduction level, and the conditions left to check per element.
pub(crate) struct WindowPlan {
    /// Per level: inclusive lower bounds (besides 0).
    lower: Vec<Vec<Expr>>,
    /// Per level: exclusive upper bounds (besides the dim).
    upper: Vec<Vec<Expr>>,
    pub residual: Vec<Cond>,
}

pub(crate) fn plan_windows(red: &Reduction) -> WindowPlan {
    let levels = red.dims.len();
    let mut plan = WindowPlan {
        lower: vec![vec![]; levels],
        upper: vec![vec![]; levels],
        residual: vec![],
    };
    for c in &red.valid {
        if !plan.add_bound(c, levels) {
            plan.residual.push(c.clone());
        }
    }
    plan
}

impl WindowPlan {
    /// Records `c` as a bound of its deepest reduction variable; false when it is not of the
    /// form `±r + g (>=|>|<|<=) 0` with `g` free of `r` and of deeper variables.
    fn add_bound(&mut self, c: &Cond, levels: usize) -> bool {
        let Some(level) = (0..levels)
            .rev()
            .find(|&l| c.lhs().mentions(&reduce_var(l)) || c.rhs().mentions(&reduce_var(l)))
        else {
            return false;
        };
        let f = c.lhs() - c.rhs();
        let Some((coeff, g)) = f.linear_in(&reduce_var(level)) else {
            return false;
        };
        // `f > 0` is `f - 1 >= 0` and `f <= 0` is `f - 1 < 0` over the integers.
        let one = Expr::int(1);
        let (at_least, g) = match c.op() {
            CmpOp::Ge => (true, g),
            CmpOp::Gt => (true, &g - &one),
            CmpOp::Lt => (false, g),
            CmpOp::Le => (false, &g - &one),
            CmpOp::Eq | CmpOp::Ne => return false,
        };
        match (coeff.as_int(), at_least) {
            // r + g >= 0  <=>  r >= -g
            (Some(1), true) => self.lower[level].push(-&g),
            // r + g < 0  <=>  r < -g
            (Some(1), false) => self.upper[level].push(-&g),
            // -r + g >= 0  <=>  r < g + 1
            (Some(-1), true) => self.upper[level].push(&g + &one),
            // -r + g < 0  <=>  r >= g + 1
            (Some(-1), false) => self.lower[level].push(&g + &one),
            _ => return false,
        }
        true
    }

    /// Whether `level`'s loop runs over its whole dim (no condition bounds it).
    pub fn is_full(&self, level: usize) -> bool {
        self.lower.get(level).is_none_or(|l| l.is_empty())
            && self.upper.get(level).is_none_or(|u| u.is_empty())
    }

    /// The bounds of `level`'s loop as expressions: `max(0, lower...)` and
    /// `min(dim, upper...)`. Those of outer variables only are pinned per row
    /// ([`crate::codegen::row`]), so a pooling window's row range is not recomputed at every point.
    pub fn bound_exprs(&self, level: usize, dim: &Expr) -> (Expr, Expr) {
        let mut lower = vec![Expr::int(0)];
        lower.extend(self.lower.get(level).into_iter().flatten().cloned());
        let mut upper = vec![dim.clone()];
        upper.extend(self.upper.get(level).into_iter().flatten().cloned());
        (
            Expr::max_of(&lower).unwrap_or_else(|| Expr::int(0)),
            Expr::min_of(&upper).unwrap_or_else(|| dim.clone()),
        )
    }
}
