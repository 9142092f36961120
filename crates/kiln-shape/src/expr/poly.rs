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

impl Expr {
    /// `(common, rest)` with `self == common * rest`: `common` the product of the atoms every
    /// term shares (each to its smallest power), `1` when there is none or a constant term.
    pub(crate) fn split_common_factor(&self) -> (Expr, Expr) {
        let unsplit = || (Expr::int(1), self.clone());
        let Some((first, others)) = self.terms.split_first() else {
            return unsplit();
        };
        if self.constant != 0 {
            return unsplit();
        }
        let mut common = first.factors.clone();
        for term in others {
            common.retain_mut(|shared| {
                let power = term
                    .factors
                    .iter()
                    .find(|f| f.atom == shared.atom)
                    .map_or(0, |f| f.power);
                shared.power = shared.power.min(power);
                shared.power > 0
            });
        }
        if common.is_empty() {
            return unsplit();
        }
        let mut rest = TermMap::new();
        for term in &self.terms {
            let factors = term
                .factors
                .iter()
                .filter_map(|f| {
                    let power = common
                        .iter()
                        .find(|c| c.atom == f.atom)
                        .map_or(f.power, |c| f.power.saturating_sub(c.power));
                    (power > 0).then(|| Factor {
                        atom: f.atom.clone(),
                        power,
                    })
                })
                .collect();
            // Dividing distinct monomials by the same monomial keeps them distinct.
            rest.insert(factors, term.coeff);
        }
        (Expr::term(common, 1), Expr::from_map(rest))
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
