//! Symbolic integer expressions in a canonical form.
//!
//! STUB: the helper implementing kiln-shape replaces the bodies; the signatures are the contract
//! the rest of kiln codes against.
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

use crate::env::SymbolLookup;

/// Why evaluating an expression on concrete values failed. Never a panic, never a wrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("integer overflow while evaluating `{expr}`")]
    Overflow { expr: String },
    #[error("division by zero while evaluating `{expr}`")]
    DivisionByZero { expr: String },
    #[error("symbol `{0}` has no value")]
    Unbound(String),
}

/// A symbolic integer in canonical form: two equal expressions built differently compare and
/// hash equal (`2*N + N == 3*N`). Division and modulo follow Python (floor) semantics.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Expr(/* private canonical representation */ ());

impl Expr {
    /// An integer constant.
    pub fn int(_v: i64) -> Expr {
        unimplemented!()
    }
    /// A named symbol.
    pub fn sym(_name: &str) -> Expr {
        unimplemented!()
    }
    pub fn floor_div(&self, _rhs: &Expr) -> Expr {
        unimplemented!()
    }
    pub fn ceil_div(&self, _rhs: &Expr) -> Expr {
        unimplemented!()
    }
    /// Python modulo: the result has the sign of the divisor.
    pub fn modulo(&self, _rhs: &Expr) -> Expr {
        unimplemented!()
    }
    pub fn min(&self, _rhs: &Expr) -> Expr {
        unimplemented!()
    }
    pub fn max(&self, _rhs: &Expr) -> Expr {
        unimplemented!()
    }
    /// `Some(v)` when the expression is the constant `v`.
    pub fn as_int(&self) -> Option<i64> {
        unimplemented!()
    }
    /// `Some(name)` when the expression is exactly one symbol.
    pub fn as_sym(&self) -> Option<&str> {
        unimplemented!()
    }
    /// Every symbol the expression mentions.
    pub fn symbols(&self) -> BTreeSet<String> {
        unimplemented!()
    }
    /// Evaluates with checked i64 arithmetic.
    pub fn eval(&self, _values: &dyn SymbolLookup) -> Result<i64, EvalError> {
        unimplemented!()
    }
    /// Replaces symbols for which `f` returns `Some`, re-canonicalising the result.
    pub fn subst(&self, _f: &dyn Fn(&str) -> Option<Expr>) -> Expr {
        unimplemented!()
    }
    /// If `self == coeff * sym + rest` where `sym` occurs in neither `coeff` nor `rest`
    /// (in particular not inside a division, modulo, min or max), returns `(coeff, rest)`.
    /// A symbol that does not occur gives `(0, self)`.
    pub fn linear_in(&self, _sym: &str) -> Option<(Expr, Expr)> {
        unimplemented!()
    }
}

impl From<i64> for Expr {
    fn from(v: i64) -> Expr {
        Expr::int(v)
    }
}

impl std::ops::Add for &Expr {
    type Output = Expr;
    fn add(self, _r: &Expr) -> Expr {
        unimplemented!()
    }
}
impl std::ops::Sub for &Expr {
    type Output = Expr;
    fn sub(self, _r: &Expr) -> Expr {
        unimplemented!()
    }
}
impl std::ops::Mul for &Expr {
    type Output = Expr;
    fn mul(self, _r: &Expr) -> Expr {
        unimplemented!()
    }
}
impl std::ops::Neg for &Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        unimplemented!()
    }
}
impl std::ops::Add for Expr {
    type Output = Expr;
    fn add(self, r: Expr) -> Expr {
        &self + &r
    }
}
impl std::ops::Sub for Expr {
    type Output = Expr;
    fn sub(self, r: Expr) -> Expr {
        &self - &r
    }
}
impl std::ops::Mul for Expr {
    type Output = Expr;
    fn mul(self, r: Expr) -> Expr {
        &self * &r
    }
}
impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        -&self
    }
}

/// Human-readable: `3*N + 2`, `(H + 2)//3`, `N*W`, `Max(H, 4)`.
impl fmt::Display for Expr {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        unimplemented!()
    }
}
impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
