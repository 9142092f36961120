//! Polynomial arithmetic on canonical expressions, with checked coefficients.
//!
//! Each function returns `None` when a coefficient or a power would overflow; the caller then
//! keeps the operation unfolded (see [`super::Atom::Add`]).
use std::collections::BTreeMap;

use super::{Expr, Factor, Term};

/// Terms keyed by their factors; the empty key is the constant term.
type TermMap = BTreeMap<Vec<Factor>, i64>;

impl Expr {
    /// Every term, the constant one included (as an empty factor list) when it is not 0.
    fn all_terms(&self) -> impl Iterator<Item = (&[Factor], i64)> {
        let constant = (self.constant != 0).then_some((&[][..], self.constant));
        self.terms
            .iter()
            .map(|t| (t.factors.as_slice(), t.coeff))
            .chain(constant)
    }

    fn to_map(&self) -> TermMap {
        self.all_terms()
            .map(|(factors, coeff)| (factors.to_vec(), coeff))
            .collect()
    }

    /// Builds the canonical expression of a term map (dropping zero coefficients).
    pub(super) fn from_map(map: TermMap) -> Expr {
        let mut constant = 0;
        let mut terms = Vec::with_capacity(map.len());
        for (factors, coeff) in map {
            if coeff == 0 {
                continue;
            }
            if factors.is_empty() {
                constant = coeff;
            } else {
                terms.push(Term { factors, coeff });
            }
        }
        Expr { terms, constant }
    }

    /// Applies `f` to every coefficient (the constant included); `None` when `f` fails.
    pub(super) fn try_map_coeffs(&self, f: impl Fn(i64) -> Option<i64>) -> Option<Expr> {
        let mut map = TermMap::new();
        for (factors, coeff) in self.all_terms() {
            map.insert(factors.to_vec(), f(coeff)?);
        }
        Some(Expr::from_map(map))
    }
}

fn accumulate(map: &mut TermMap, factors: Vec<Factor>, coeff: i64) -> Option<()> {
    let slot = map.entry(factors).or_insert(0);
    *slot = slot.checked_add(coeff)?;
    Some(())
}

pub(super) fn try_add(a: &Expr, b: &Expr) -> Option<Expr> {
    let mut map = a.to_map();
    for (factors, coeff) in b.all_terms() {
        accumulate(&mut map, factors.to_vec(), coeff)?;
    }
    Some(Expr::from_map(map))
}

pub(super) fn try_sub(a: &Expr, b: &Expr) -> Option<Expr> {
    let mut map = a.to_map();
    for (factors, coeff) in b.all_terms() {
        accumulate(&mut map, factors.to_vec(), coeff.checked_neg()?)?;
    }
    Some(Expr::from_map(map))
}

pub(super) fn try_mul(a: &Expr, b: &Expr) -> Option<Expr> {
    let mut map = TermMap::new();
    for (fa, ca) in a.all_terms() {
        for (fb, cb) in b.all_terms() {
            accumulate(&mut map, mul_factors(fa, fb)?, ca.checked_mul(cb)?)?;
        }
    }
    Some(Expr::from_map(map))
}

/// Merges two sorted factor lists, adding the powers of shared atoms.
fn mul_factors(a: &[Factor], b: &[Factor]) -> Option<Vec<Factor>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].atom.cmp(&b[j].atom) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(Factor {
                    atom: a[i].atom.clone(),
                    power: a[i].power.checked_add(b[j].power)?,
                });
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    Some(out)
}

/// Square-and-multiply, so that a large exponent of a single atom stays cheap.
pub(super) fn pow(base: &Expr, exp: u32) -> Expr {
    let mut result = Expr::int(1);
    let mut square = base.clone();
    let mut rest = exp;
    while rest > 0 {
        if rest & 1 == 1 {
            result = &result * &square;
        }
        rest >>= 1;
        if rest > 0 {
            square = &square * &square;
        }
    }
    result
}
