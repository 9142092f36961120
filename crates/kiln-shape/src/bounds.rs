//! Interval arithmetic: the values an expression can take when its symbols lie in ranges.
//!
//! The walk mirrors the order in which [`Expr::eval`] computes, and every intermediate of a
//! successful evaluation is an `i64`; so clamping each intermediate interval to the `i64` range
//! loses nothing and keeps the arithmetic exact in `i128`. The bounds hold for every assignment
//! on which the expression evaluates without error.
use crate::env::ValueRange;
use crate::expr::{Atom, Expr, floor_div_i64};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    lo: i128,
    hi: i128,
}

const I64_MIN: i128 = i64::MIN as i128;
const I64_MAX: i128 = i64::MAX as i128;
const FULL: Interval = Interval {
    lo: I64_MIN,
    hi: I64_MAX,
};

impl Interval {
    fn new(lo: i128, hi: i128) -> Interval {
        Interval {
            lo: lo.clamp(I64_MIN, I64_MAX),
            hi: hi.clamp(I64_MIN, I64_MAX),
        }
    }
    fn point(v: i64) -> Interval {
        Interval::new(v.into(), v.into())
    }
    /// The smallest interval holding every value in `candidates` (non-empty).
    fn hull(candidates: &[i128]) -> Interval {
        let lo = candidates.iter().copied().min().unwrap_or(I64_MIN);
        let hi = candidates.iter().copied().max().unwrap_or(I64_MAX);
        Interval::new(lo, hi)
    }
    fn union(self, other: Interval) -> Interval {
        Interval::new(self.lo.min(other.lo), self.hi.max(other.hi))
    }
    fn add(self, other: Interval) -> Interval {
        // Both sides lie in i64, so the sums fit in i128.
        Interval::new(self.lo + other.lo, self.hi + other.hi)
    }
    fn mul(self, other: Interval) -> Interval {
        Interval::hull(&[
            self.lo * other.lo,
            self.lo * other.hi,
            self.hi * other.lo,
            self.hi * other.hi,
        ])
    }
    fn pow(self, exp: u32) -> Interval {
        let lo = self.lo.saturating_pow(exp);
        let hi = self.hi.saturating_pow(exp);
        if exp % 2 == 1 || self.lo >= 0 {
            Interval::new(lo, hi)
        } else if self.hi <= 0 {
            Interval::new(hi, lo)
        } else {
            Interval::new(0, lo.max(hi))
        }
    }
    /// The divisors other than 0 (which fails evaluation): the positive and negative parts.
    fn nonzero_parts(self) -> [Option<Interval>; 2] {
        let positive = (self.hi >= 1).then(|| Interval::new(self.lo.max(1), self.hi));
        let negative = (self.lo <= -1).then(|| Interval::new(self.lo, self.hi.min(-1)));
        [positive, negative]
    }
    fn to_i64(v: i128) -> i64 {
        // Intervals are always clamped to the i64 range.
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }
}

fn union_all(parts: impl Iterator<Item = Interval>) -> Interval {
    parts.reduce(Interval::union).unwrap_or(FULL)
}

/// The range of values `e` takes when every symbol lies in `range_of(symbol)` (the whole `i64`
/// range for a symbol it does not know).
pub(crate) fn bounds(e: &Expr, range_of: &dyn Fn(&str) -> Option<ValueRange>) -> ValueRange {
    let interval = expr_interval(e, range_of);
    ValueRange {
        lo: Interval::to_i64(interval.lo),
        hi: Interval::to_i64(interval.hi),
    }
}

fn expr_interval(e: &Expr, range_of: &dyn Fn(&str) -> Option<ValueRange>) -> Interval {
    let mut sum = Interval::point(0);
    for (coeff, factors) in e.terms() {
        let mut product = Interval::point(coeff);
        for factor in factors {
            let base = atom_interval(factor.atom(), range_of);
            product = product.mul(base.pow(factor.power()));
        }
        sum = sum.add(product);
    }
    sum.add(Interval::point(e.constant_term()))
}

fn atom_interval(atom: &Atom, range_of: &dyn Fn(&str) -> Option<ValueRange>) -> Interval {
    let of = |e: &Expr| expr_interval(e, range_of);
    match atom {
        Atom::Sym(name) => match range_of(name) {
            Some(range) if range.lo <= range.hi => Interval::new(range.lo.into(), range.hi.into()),
            _ => FULL,
        },
        Atom::FloorDiv(a, b) => {
            let a = of(a);
            union_all(of(b).nonzero_parts().into_iter().flatten().map(|d| {
                // Floor division is monotone in each argument on a sign-constant divisor box,
                // so the extremes lie at the corners.
                let corners = [(a.lo, d.lo), (a.lo, d.hi), (a.hi, d.lo), (a.hi, d.hi)];
                let values: Vec<i128> =
                    corners.iter().map(|&(x, y)| floor_div_wide(x, y)).collect();
                Interval::hull(&values)
            }))
        }
        Atom::Mod(a, b) => {
            let a = of(a);
            let [positive, negative] = of(b).nonzero_parts();
            let from_positive = positive.map(|d| {
                if a.lo >= 0 && a.hi < d.lo {
                    a
                } else {
                    Interval::new(0, d.hi - 1)
                }
            });
            let from_negative = negative.map(|d| {
                if a.hi <= 0 && a.lo > d.hi {
                    a
                } else {
                    Interval::new(d.lo + 1, 0)
                }
            });
            union_all([from_positive, from_negative].into_iter().flatten())
        }
        Atom::Min(args) => {
            let parts: Vec<Interval> = args.iter().map(of).collect();
            let lo = parts.iter().map(|p| p.lo).min();
            let hi = parts.iter().map(|p| p.hi).min();
            match (lo, hi) {
                (Some(lo), Some(hi)) => Interval::new(lo, hi),
                _ => FULL,
            }
        }
        Atom::Max(args) => {
            let parts: Vec<Interval> = args.iter().map(of).collect();
            let lo = parts.iter().map(|p| p.lo).max();
            let hi = parts.iter().map(|p| p.hi).max();
            match (lo, hi) {
                (Some(lo), Some(hi)) => Interval::new(lo, hi),
                _ => FULL,
            }
        }
        Atom::Add(a, b) => of(a).add(of(b)),
        Atom::Mul(a, b) => of(a).mul(of(b)),
    }
}

/// Floor division of two clamped bounds (the divisor non-zero); exact in i128, where even
/// `i64::MIN // -1` fits.
fn floor_div_wide(x: i128, y: i128) -> i128 {
    match (i64::try_from(x), i64::try_from(y)) {
        (Ok(x64), Ok(y64)) => match floor_div_i64(x64, y64) {
            Some(q) => q.into(),
            // Only i64::MIN // -1 overflows i64.
            None => -x,
        },
        _ => FULL.hi,
    }
}

/// Checks the helpers agree with evaluation on a few hand-picked corners.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::python_mod;

    #[test]
    fn wide_floor_division_matches_python() {
        assert_eq!(floor_div_wide(7, 2), 3);
        assert_eq!(floor_div_wide(-7, 2), -4);
        assert_eq!(floor_div_wide(7, -2), -4);
        assert_eq!(floor_div_wide(I64_MIN, -1), I64_MAX + 1);
        assert_eq!(python_mod(-7, 2), Some(1));
    }

    #[test]
    fn even_power_of_a_straddling_interval_is_non_negative() {
        let i = Interval::new(-3, 2).pow(2);
        assert_eq!(i, Interval::new(0, 9));
        let odd = Interval::new(-3, 2).pow(3);
        assert_eq!(odd, Interval::new(-27, 8));
    }
}
