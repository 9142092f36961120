//! Proving `e >= 0` for every value of the symbols in their ranges: sound, merely incomplete.
//!
//! Three proofs, cheapest first:
//! 1. interval arithmetic on `e`;
//! 2. intervals on both parts of `e == F * Q`, `F` the factor every term shares
//!    (`C*H*N*W - C == C * (H*N*W - 1)`, where plain intervals lose the correlation);
//! 3. shifted coefficients: write every symbol as its lower bound plus a non-negative variable
//!    (`H == 2 + H'`), and a divided symbol through its quotient and remainder
//!    (`H == 2*q + r`, `q == H//2 >= lo//2`, `r == H%2 >= 0`). A polynomial whose coefficients
//!    are then all non-negative is non-negative: that proves `C*H*N*W >= C*N*(1 + H//2)*(1 + W//2)`
//!    for `H, W >= 2`, which intervals cannot.
use std::collections::BTreeMap;

use crate::bounds::bounds;
use crate::env::ValueRange;
use crate::expr::{Atom, Expr};

type RangeOf<'a> = &'a dyn Fn(&str) -> Option<ValueRange>;

/// Whether `e >= 0` for every assignment in the ranges on which it evaluates.
pub(crate) fn provably_non_negative(e: &Expr, range_of: RangeOf<'_>) -> bool {
    let non_negative = |e: &Expr| bounds(e, range_of).lo >= 0;
    if non_negative(e) {
        return true;
    }
    let (common, rest) = e.split_common_factor();
    if !common.is_const() && non_negative(&common) && non_negative(&rest) {
        return true;
    }
    shifted_coefficients_non_negative(e, range_of)
}

/// Proof 3: every coefficient non-negative once each variable is shifted to start at 0.
fn shifted_coefficients_non_negative(e: &Expr, range_of: RangeOf<'_>) -> bool {
    let Some(divisors) = divisors(e) else {
        return false;
    };
    let lower = |name: &str| range_of(name).map(|r| r.lo);
    // The shifted variables keep names no user symbol has, so they cannot collide.
    let image = |atom: &Atom| -> Option<Expr> {
        let name: &str = match atom {
            Atom::Sym(name) => name,
            Atom::FloorDiv(a, _) | Atom::Mod(a, _) => a.as_sym()?,
            _ => return None,
        };
        let Some(&k) = divisors.get(name) else {
            return Some(&Expr::sym(name) + &Expr::int(lower(name)?));
        };
        let quotient_lower = Expr::int(lower(name)?.div_euclid(k));
        let quotient = &Expr::sym(&format!("{name}//{k}")) + &quotient_lower;
        let remainder = Expr::sym(&format!("{name}%{k}"));
        Some(match atom {
            Atom::Sym(_) => &(&Expr::int(k) * &quotient) + &remainder,
            Atom::FloorDiv(..) => quotient,
            _ => remainder,
        })
    };
    let mut shifted = Expr::int(e.constant_term());
    for (coeff, factors) in e.terms() {
        let mut product = Expr::int(coeff);
        for factor in factors {
            let Some(base) = image(factor.atom()) else {
                return false;
            };
            product = &product * &base.pow(factor.power());
        }
        shifted = &shifted + &product;
    }
    // An overflow leaves an unfolded node, which is not a symbol: no proof then.
    shifted.constant_term() >= 0
        && shifted.terms().all(|(coeff, factors)| {
            coeff >= 0 && factors.iter().all(|f| matches!(f.atom(), Atom::Sym(_)))
        })
}

/// The divisor of every symbol that `e` divides (`H//2`, `H%2`): a positive constant, the same
/// wherever that symbol is divided; `None` otherwise.
fn divisors(e: &Expr) -> Option<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for atom in e.atoms() {
        let (Atom::FloorDiv(a, k) | Atom::Mod(a, k)) = atom else {
            continue;
        };
        let (Some(name), Some(k)) = (a.as_sym(), k.as_int().filter(|k| *k > 0)) else {
            return None;
        };
        if *out.entry(name.to_string()).or_insert(k) != k {
            return None;
        }
    }
    Some(out)
}

/// Every proof is checked against evaluation on random sizes.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Bindings, ValueRange};
    use proptest::prelude::*;

    const NAMES: [&str; 3] = ["A", "B", "C"];

    /// `1 + X//2`, `X`, `X % 3` or a small constant.
    fn factor(choice: u8, sym: usize, c: i64) -> Expr {
        let x = Expr::sym(NAMES[sym]);
        match choice % 4 {
            0 => x,
            1 => &Expr::int(1) + &x.floor_div(&Expr::int(2)),
            2 => x.modulo(&Expr::int(2)),
            _ => Expr::int(c),
        }
    }

    fn product(factors: &[(u8, usize, i64)]) -> Expr {
        factors.iter().fold(Expr::int(1), |p, &(choice, sym, c)| {
            &p * &factor(choice, sym, c)
        })
    }

    fn factors() -> impl Strategy<Value = Vec<(u8, usize, i64)>> {
        prop::collection::vec((0u8..4, 0..NAMES.len(), -3i64..=3), 1..4)
    }

    proptest! {
        #[test]
        fn a_proved_non_negative_expression_is_never_negative(
            plus in prop::collection::vec(factors(), 1..4),
            minus in prop::collection::vec(factors(), 0..3),
            constant in -6i64..=6,
            lower in 0i64..=3,
            values in prop::collection::vec([0i64..=12, 0i64..=12, 0i64..=12], 32),
        ) {
            let sum = |parts: &[Vec<(u8, usize, i64)>]| {
                parts.iter().fold(Expr::int(0), |s, p| &s + &product(p))
            };
            let e = &(&sum(&plus) - &sum(&minus)) + &Expr::int(constant);
            let range = ValueRange::new(lower, i64::MAX);
            if !provably_non_negative(&e, &|_| Some(range)) {
                return Ok(());
            }
            for v in &values {
                if v.iter().any(|x| *x < lower) {
                    continue;
                }
                let mut b = Bindings::new();
                for (name, x) in NAMES.iter().zip(v) {
                    b.insert(name, *x);
                }
                if let Ok(value) = e.eval(&b) {
                    prop_assert!(value >= 0, "{:?} = {} at {:?}", e, value, v);
                }
            }
        }
    }
}
