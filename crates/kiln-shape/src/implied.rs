//! When one guard makes another redundant, so that only the stronger is recorded.
//!
//! Guards are canonical (`P < k`, `P >= k`, `P == k`, see [`crate::cond`]). `B < k'` implies
//! `A < k` when `k' <= k` and `A <= B` wherever the symbols lie in their ranges; dually `B >= k'`
//! implies `A >= k` when `k' >= k` and `A >= B`. `A <= B` is proved by showing `B - A >= 0`
//! ([`provably_non_negative`]): sound, merely incomplete, so an implication it misses only keeps
//! a redundant guard.
use crate::cond::{CmpOp, Cond};
use crate::env::ValueRange;
use crate::positivity::provably_non_negative;

/// A guard seen as one-sided bounds of its non-constant part.
#[derive(Clone, Copy)]
enum Side {
    /// `P < k`.
    Below(i64),
    /// `P >= k`.
    AtLeast(i64),
}

/// The one-sided bounds a canonical guard states about its left side (none for `!=`, or for
/// a guard that is not canonical).
fn sides(cond: &Cond) -> Vec<Side> {
    let Some(k) = cond.rhs().as_int() else {
        return Vec::new();
    };
    match cond.op() {
        CmpOp::Lt => vec![Side::Below(k)],
        CmpOp::Ge => vec![Side::AtLeast(k)],
        CmpOp::Eq => {
            let mut out = vec![Side::AtLeast(k)];
            out.extend(k.checked_add(1).map(Side::Below));
            out
        }
        _ => Vec::new(),
    }
}

/// Whether `premise` holding implies `conclusion` holds, for symbols in the ranges `range_of`
/// gives (on every assignment where both sides evaluate).
pub(crate) fn implies(
    premise: &Cond,
    conclusion: &Cond,
    range_of: &dyn Fn(&str) -> Option<ValueRange>,
) -> bool {
    let [wanted] = sides(conclusion)[..] else {
        return false;
    };
    let (b, a) = (premise.lhs(), conclusion.lhs());
    sides(premise)
        .into_iter()
        .any(|known| match (known, &wanted) {
            // a <= b < known <= limit
            (Side::Below(known), Side::Below(limit)) => {
                known <= *limit && provably_non_negative(&(b - a), range_of)
            }
            // a >= b >= known >= limit
            (Side::AtLeast(known), Side::AtLeast(limit)) => {
                known >= *limit && provably_non_negative(&(a - b), range_of)
            }
            _ => false,
        })
}
