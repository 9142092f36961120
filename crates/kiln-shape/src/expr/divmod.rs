//! Canonical floor division and modulo.
//!
//! Constant divisors are normalised to be positive (`a // -k == (-a) // k`,
//! `a % -k == -((-a) % k)`); symbolic divisors are kept as they are, since no rewrite of them is
//! valid for every integer (the divisor may be 0).
use std::collections::BTreeMap;

use super::{Atom, Expr, eval};

pub(super) fn floor_div(a: &Expr, b: &Expr) -> Expr {
    let unfolded = || Expr::atom(Atom::FloorDiv(a.clone(), b.clone()));
    let Some(k) = b.as_int() else {
        return unfolded();
    };
    if k == 0 {
        return unfolded();
    }
    if let Some(x) = a.as_int() {
        return eval::floor_div_i64(x, k).map_or_else(unfolded, Expr::int);
    }
    if k > 0 {
        return floor_div_positive(a, k);
    }
    match k.checked_neg() {
        Some(positive) => floor_div_positive(&-a, positive),
        None => unfolded(),
    }
}

/// `a // k` for `k > 0` and a non-constant `a`.
fn floor_div_positive(a: &Expr, k: i64) -> Expr {
    if k == 1 {
        return a.clone();
    }
    // (x // m) // k == x // (m*k) for positive m and k.
    if let Some(Atom::FloorDiv(x, m)) = a.as_single_atom()
        && let Some(m) = m.as_int().filter(|m| *m > 0)
        && let Some(mk) = m.checked_mul(k)
    {
        return floor_div(x, &Expr::int(mk));
    }
    // (k*q + r) // k == q + r // k: move every multiple of k out of the division; the constant
    // keeps only its remainder in 0..k.
    let mut quotient = BTreeMap::new();
    let mut rest = BTreeMap::new();
    for (coeff, factors) in a.terms() {
        if coeff % k == 0 {
            quotient.insert(factors.to_vec(), coeff / k);
        } else {
            rest.insert(factors.to_vec(), coeff);
        }
    }
    quotient.insert(Vec::new(), a.constant.div_euclid(k));
    rest.insert(Vec::new(), a.constant.rem_euclid(k));
    let quotient = Expr::from_map(quotient);
    let rest = Expr::from_map(rest);
    if rest.is_const() {
        // The remainder constant lies in 0..k, so its quotient is 0.
        return quotient;
    }
    // (g*x) // (g*m) == x // m for g > 0.
    let (reduced, m) = divide_common_factor(&rest, k);
    if m == k {
        return &quotient + &Expr::atom(Atom::FloorDiv(rest, Expr::int(k)));
    }
    // What is left may be a single division that folds now (`(2*(x//2)) // 6` is
    // `(x//2) // 3`, which is `x // 6`): divide again, or a rebuilt expression would fold
    // further than this one and the form would not be canonical. No coefficient of `reduced`
    // is a multiple of `m` (`c/g` is one of `k/g` only if `c` is one of `k`), so this ends.
    &quotient + &floor_div_positive(&reduced, m)
}

pub(super) fn modulo(a: &Expr, b: &Expr) -> Expr {
    let unfolded = || Expr::atom(Atom::Mod(a.clone(), b.clone()));
    let Some(k) = b.as_int() else {
        return unfolded();
    };
    if k == 0 {
        return unfolded();
    }
    if let Some(x) = a.as_int() {
        return eval::python_mod(x, k).map_or_else(unfolded, Expr::int);
    }
    if k > 0 {
        return modulo_positive(a, k);
    }
    match k.checked_neg() {
        Some(positive) => -&modulo_positive(&-a, positive),
        None => unfolded(),
    }
}

/// `a % k` for `k > 0`.
fn modulo_positive(a: &Expr, k: i64) -> Expr {
    if k == 1 {
        return Expr::int(0);
    }
    // (x % m) % k == x % k when k divides m: replace such inner terms by x and start again.
    let mut stripped = Expr::int(a.constant);
    let mut changed = false;
    for term in &a.terms {
        let inner = match term.factors.as_slice() {
            [factor] if factor.power == 1 => match &factor.atom {
                Atom::Mod(x, m) if m.as_int().is_some_and(|m| m > 0 && m % k == 0) => Some(x),
                _ => None,
            },
            _ => None,
        };
        let replacement = match inner {
            Some(x) => {
                changed = true;
                x.clone()
            }
            None => Expr::term(term.factors.clone(), 1),
        };
        stripped = &stripped + &(&replacement * &Expr::int(term.coeff));
    }
    if changed {
        return modulo(&stripped, &Expr::int(k));
    }
    // Congruent expressions have equal remainders: reduce every coefficient into 0..k.
    let Some(reduced) = a.try_map_coeffs(|c| Some(c.rem_euclid(k))) else {
        return Expr::atom(Atom::Mod(a.clone(), Expr::int(k)));
    };
    if let Some(r) = reduced.as_int() {
        return Expr::int(r);
    }
    // (g*x) % (g*m) == g * (x % m) for g > 0.
    let (rest, m) = divide_common_factor(&reduced, k);
    if m == k {
        return Expr::atom(Atom::Mod(reduced, Expr::int(k)));
    }
    // As in `floor_div_positive`: `x % m` may fold further (`(x % 6) % 2` is `x % 2`).
    &Expr::int(k / m) * &modulo_positive(&rest, m)
}

/// Divides `e` and `k > 0` by the greatest common divisor of `k` and all of `e`'s coefficients.
fn divide_common_factor(e: &Expr, k: i64) -> (Expr, i64) {
    let g = e
        .terms()
        .map(|(c, _)| c)
        .chain([e.constant])
        .fold(k.unsigned_abs(), |g, c| gcd(g, c.unsigned_abs()));
    // g divides k, so it fits in i64 and is at least 1.
    let Ok(g) = i64::try_from(g) else {
        return (e.clone(), k);
    };
    if g <= 1 {
        return (e.clone(), k);
    }
    match e.try_map_coeffs(|c| c.checked_div(g)) {
        Some(divided) => (divided, k / g),
        None => (e.clone(), k),
    }
}

pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
