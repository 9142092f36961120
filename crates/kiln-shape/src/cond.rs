//! Conditions between expressions, in a canonical form.
//!
//! `lhs op rhs` is rewritten as `P op k`: `P` the non-constant part of `lhs - rhs` with a positive
//! leading coefficient and its coefficients' common factor divided out, `k` a constant. Strict
//! and non-strict inequalities over integers are interchangeable (`P <= k` is `P < k + 1`), so
//! only `<` (upper bounds) and `>=` (lower bounds) remain besides `==` and `!=`. This reads well
//! (`N*M < 2147483648`, `N >= 2`, `H == 8`) and makes negation stay canonical.
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::env::SymbolLookup;
use crate::expr::{Atom, EvalError, Expr};

pub use crate::guards::{GuardFailure, GuardSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator of the logical negation.
    pub fn negate(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Eq | CmpOp::Ne => self,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        }
    }
    pub fn holds<T: Ord>(self, lhs: T, rhs: T) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// `lhs op rhs`, kept in a canonical form so that equal conditions compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cond {
    lhs: Expr,
    op: CmpOp,
    rhs: Expr,
}

impl Cond {
    pub fn new(lhs: Expr, op: CmpOp, rhs: Expr) -> Cond {
        canonical(&lhs, op, &rhs).unwrap_or(Cond { lhs, op, rhs })
    }
    pub fn eq(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Eq, r)
    }
    pub fn ne(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Ne, r)
    }
    pub fn lt(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Lt, r)
    }
    pub fn le(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Le, r)
    }
    pub fn gt(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Gt, r)
    }
    pub fn ge(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Ge, r)
    }
    /// The condition that always (or never) holds.
    pub fn constant(value: bool) -> Cond {
        let op = if value { CmpOp::Eq } else { CmpOp::Ne };
        Cond {
            lhs: Expr::int(0),
            op,
            rhs: Expr::int(0),
        }
    }
    pub fn lhs(&self) -> &Expr {
        &self.lhs
    }
    pub fn op(&self) -> CmpOp {
        self.op
    }
    pub fn rhs(&self) -> &Expr {
        &self.rhs
    }
    /// The logical negation (`a < b` becomes `a >= b`).
    pub fn negate(&self) -> Cond {
        Cond::new(self.lhs.clone(), self.op.negate(), self.rhs.clone())
    }
    pub fn eval(&self, values: &dyn SymbolLookup) -> Result<bool, EvalError> {
        let lhs = self.lhs.eval(values)?;
        let rhs = self.rhs.eval(values)?;
        Ok(self.op.holds(lhs, rhs))
    }
    /// `Some(b)` when the condition is constant (mentions no symbol).
    pub fn as_bool(&self) -> Option<bool> {
        Some(self.op.holds(self.lhs.as_int()?, self.rhs.as_int()?))
    }
    /// Every symbol either side mentions.
    pub fn symbols(&self) -> std::collections::BTreeSet<String> {
        let mut out = self.lhs.symbols();
        out.extend(self.rhs.symbols());
        out
    }
}

/// The canonical `P op k` of `lhs op rhs`, or `None` where a step would overflow (the condition
/// is then kept as given: still exact, merely not canonical).
fn canonical(lhs: &Expr, op: CmpOp, rhs: &Expr) -> Option<Cond> {
    // Folding first makes `H - 2*(H//2) >= 0` read `H%2 >= 0`, which is always true.
    let difference = (lhs - rhs).fold_remainders();
    if let Some(d) = difference.as_int() {
        return Some(Cond::constant(op.holds(d, 0)));
    }
    // difference op 0  <=>  P op k
    let k = -i128::from(difference.constant_term());
    let p = difference.without_constant();
    let (leading, _) = p.terms().next()?;
    let (p, k, op) = if leading < 0 {
        (-&p, -k, op.flip())
    } else {
        (p, k, op)
    };
    if p.terms().next().is_none_or(|(c, _)| c <= 0) {
        // The negation did not fold (a coefficient was i64::MIN).
        return None;
    }
    let g = p
        .terms()
        .fold(0u64, |g, (c, _)| crate::expr::gcd(g, c.unsigned_abs()));
    let g = i128::from(g);
    let p = p.divide_exact(i64::try_from(g).ok()?)?;
    // P op k  <=>  (P/g) op' k'
    let (op, k) = match op {
        CmpOp::Eq | CmpOp::Ne if k % g != 0 => return Some(Cond::constant(op == CmpOp::Ne)),
        CmpOp::Eq | CmpOp::Ne => (op, k / g),
        CmpOp::Lt => (CmpOp::Lt, (k - 1).div_euclid(g) + 1),
        CmpOp::Le => (CmpOp::Lt, k.div_euclid(g) + 1),
        CmpOp::Gt => (CmpOp::Ge, ceil_div(k + 1, g)),
        CmpOp::Ge => (CmpOp::Ge, ceil_div(k, g)),
    };
    let k = i64::try_from(k).ok()?;
    Some(remainder_condition(&p, op, k).unwrap_or(Cond {
        lhs: p,
        op,
        rhs: Expr::int(k),
    }))
}

/// `a % m op k` for a constant `m > 1`, as a reader would write it: the remainder lies in
/// `0..m`, so a bound at either end is an equality or its negation (`(W + 1)%2 >= 1` is
/// `(W + 1)%2 == 1`), and an equality moves the dividend's constant over (`(W + 1)%2 == 1` is
/// `W%2 == 0`). Both hold for every integer `a`. `None` when `p` is not such a remainder.
fn remainder_condition(p: &Expr, op: CmpOp, k: i64) -> Option<Cond> {
    let [(1, [factor])] = p.terms().collect::<Vec<_>>()[..] else {
        return None;
    };
    let Atom::Mod(a, m) = factor.atom() else {
        return None;
    };
    let m = m.as_int().filter(|m| *m > 1 && factor.power() == 1)?;
    let top = m - 1;
    // Each bound at an end becomes an equality or its negation, so negating stays canonical.
    let (op, r) = match op {
        CmpOp::Lt if k <= 0 => return Some(Cond::constant(false)),
        CmpOp::Lt if k > top => return Some(Cond::constant(true)),
        CmpOp::Ge if k <= 0 => return Some(Cond::constant(true)),
        CmpOp::Ge if k > top => return Some(Cond::constant(false)),
        CmpOp::Lt if k == 1 => (CmpOp::Eq, 0),
        CmpOp::Ge if k == 1 => (CmpOp::Ne, 0),
        CmpOp::Ge if k == top => (CmpOp::Eq, top),
        CmpOp::Lt if k == top => (CmpOp::Ne, top),
        CmpOp::Eq | CmpOp::Ne if !(0..=top).contains(&k) => {
            return Some(Cond::constant(op == CmpOp::Ne));
        }
        CmpOp::Eq | CmpOp::Ne => (op, k),
        _ => return None,
    };
    // With two remainders, `!= r` is `== 1 - r`.
    let (op, r) = if op == CmpOp::Ne && m == 2 {
        (CmpOp::Eq, 1 - r)
    } else {
        (op, r)
    };
    // (b + c) % m == r  <=>  b % m == (r - c) mod m
    let c = a.constant_term().rem_euclid(m);
    let r = (r - c).rem_euclid(m);
    let lhs = a.without_constant().modulo(&Expr::int(m));
    let rhs = Expr::int(r);
    if matches!(lhs.terms().collect::<Vec<_>>()[..], [(1, [_])]) {
        return Some(Cond { lhs, op, rhs });
    }
    // A common factor came out (`(2*W)%4 == 2*(W%2)`): canonicalise again, which divides it.
    Some(Cond::new(lhs, op, rhs))
}

fn ceil_div(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_bool() {
            Some(true) => f.write_str("true"),
            Some(false) => f.write_str("false"),
            None => write!(f, "{} {} {}", self.lhs, self.op, self.rhs),
        }
    }
}
impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
