//! `a - k*(a//k) == a % k`: folds a floor division and its dividend into a remainder.
//!
//! Code that rounds a size down to a multiple builds the remainder by hand (`H - 2*(H//2)`).
//! Folded it reads as `H%2`, and interval arithmetic bounds a remainder to `0..k`, so
//! conditions on it are decided without a guard. The identity holds for every integer `a` and
//! `k > 0`. A rewrite is kept only where it makes the expression strictly smaller, which also
//! turns `k*(a//k) + a%k` back into `a` and makes the folding terminate.
use super::{Atom, Expr, Factor, divmod, poly};

/// Applies the remainder identity until no application makes `e` smaller.
pub(super) fn fold_remainders(e: Expr) -> Expr {
    let mut current = e;
    // Every accepted rewrite lowers `size`, a natural number, so the loop ends.
    while let Some(smaller) = fold_once(&current) {
        current = smaller;
    }
    current
}

/// Top-level terms plus the divisions and remainders among their factors: what a reader sees.
fn size(e: &Expr) -> usize {
    let divisions = e
        .atoms()
        .filter(|a| matches!(a, Atom::FloorDiv(..) | Atom::Mod(..)))
        .count();
    e.terms.len() + usize::from(e.constant != 0) + divisions
}

/// One rewrite of a term `m*k * R * (a//k)` (`R` the other factors, `k > 1`) that shrinks `e`:
/// since `k*(a//k) == a - a%k`, the term equals `m*R*a - m*R*(a%k)`.
fn fold_once(e: &Expr) -> Option<Expr> {
    let before = size(e);
    for term in &e.terms {
        for (i, factor) in term.factors.iter().enumerate() {
            let Atom::FloorDiv(a, k) = &factor.atom else {
                continue;
            };
            let Some(k) = k.as_int().filter(|k| *k > 1) else {
                continue;
            };
            if factor.power != 1 || term.coeff % k != 0 {
                continue;
            }
            let others: Vec<Factor> = term
                .factors
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, f)| f.clone())
                .collect();
            let Some(candidate) = rewrite(e, term.coeff, others, a, k) else {
                continue;
            };
            if size(&candidate) < before {
                return Some(candidate);
            }
        }
    }
    None
}

/// `e - c*R*(a//k) + m*R*a - m*R*(a%k)` with `c == m*k`; `None` where a coefficient overflows.
fn rewrite(e: &Expr, c: i64, others: Vec<Factor>, a: &Expr, k: i64) -> Option<Expr> {
    let m = c / k;
    let others = Expr::term(others, 1);
    let quotient = Expr::atom(Atom::FloorDiv(a.clone(), Expr::int(k)));
    let remainder = divmod::modulo(a, &Expr::int(k));
    let old = poly::try_mul(&poly::try_mul(&others, &quotient)?, &Expr::int(c))?;
    let dividend = poly::try_mul(&poly::try_mul(&others, a)?, &Expr::int(m))?;
    let folded = poly::try_mul(&poly::try_mul(&others, &remainder)?, &Expr::int(m))?;
    let without = poly::try_sub(e, &old)?;
    poly::try_sub(&poly::try_add(&without, &dividend)?, &folded)
}
