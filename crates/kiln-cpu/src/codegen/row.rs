//! The index sums a kernel pins once per row (see [`super::index`]'s module docs).
//!
//! Every index expression a row's points evaluate (load and store offsets, `Index` values,
//! reduction sizes, window conditions and bounds, the pooling interior) contributes its slow
//! terms: those that mention neither the inner loop variable nor a reduction variable. The
//! distinct non-empty sums that mention an outer loop variable are computed for each row
//! (first row before the loop, next row at its end) and carried as block parameters of the
//! row loop. Sums of symbols only are the same for every row: Cranelift would fold a
//! parameter that always receives the same value, so they are left to it.
use std::collections::HashSet;

use kiln_sched::{Instr, Kernel, Reduction, ScalarOp, outer_var, reduce_var};
use kiln_shape::Expr;

use super::index::{IndexEmitter, Terms, factors_mention};
use super::plan::lanes::OutputLanes;
use super::plan::window::plan_windows;

/// The inner loop variable and the reduction variables of `k` (`k.dims` not empty).
pub(crate) fn fast_vars(k: &Kernel) -> Vec<String> {
    let mut out = vec![outer_var(k.dims.len().saturating_sub(1))];
    if let Some(r) = &k.reduce {
        out.extend((0..r.dims.len()).map(reduce_var));
    }
    out
}

/// The distinct slow-term sums of `k`'s index expressions that depend on the row, in a fixed
/// order. `idx` must have the kernel's fast variables set.
pub(crate) fn pinned_sums(
    k: &Kernel,
    lanes: Option<&OutputLanes>,
    idx: &IndexEmitter,
) -> Vec<Terms> {
    let outer: Vec<String> = (0..k.dims.len().saturating_sub(1)).map(outer_var).collect();
    let mut exprs: Vec<&Expr> = vec![];
    instr_exprs(&k.body, &mut exprs);
    exprs.extend(k.stores.iter().map(|s| &s.offset));
    let mut bounds: Vec<Expr> = vec![];
    let mut window_bounds = |red: &Reduction| {
        let plan = plan_windows(red);
        for (level, dim) in red.dims.iter().enumerate() {
            let (lo, hi) = plan.bound_exprs(level, dim);
            bounds.extend([lo, hi]);
        }
    };
    if let Some(red) = &k.reduce {
        instr_exprs(&red.body, &mut exprs);
        exprs.extend(&red.dims);
        for c in &red.valid {
            exprs.push(c.lhs());
            exprs.push(c.rhs());
        }
        window_bounds(red);
    }
    if let Some(l) = lanes {
        exprs.extend(&l.lower);
        exprs.extend(&l.upper);
        window_bounds(&l.interior);
    }
    let mut seen = HashSet::new();
    let mut out = vec![];
    for e in exprs.into_iter().chain(&bounds) {
        let terms = idx.slow_terms(e);
        let per_row = terms.iter().any(|(_, f)| factors_mention(f, &outer));
        if per_row && seen.insert(terms.clone()) {
            out.push(terms);
        }
    }
    out
}

/// The index expressions of `body`'s loads and `Index` values, appended to `exprs`.
fn instr_exprs<'k>(body: &'k [Instr], exprs: &mut Vec<&'k Expr>) {
    for i in body {
        match &i.op {
            ScalarOp::Load { offset, .. } => exprs.push(offset),
            ScalarOp::Index(e) => exprs.push(e),
            _ => {}
        }
    }
}
