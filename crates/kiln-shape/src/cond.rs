//! Conditions between expressions, and guard sets (their conjunction).
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::env::SymbolLookup;
use crate::expr::{EvalError, Expr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `lhs op rhs`, kept in a canonical form so that equal conditions compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cond {/* private canonical representation */}

impl Cond {
    pub fn new(_lhs: Expr, _op: CmpOp, _rhs: Expr) -> Cond {
        unimplemented!()
    }
    pub fn eq(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Eq, r)
    }
    pub fn lt(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Lt, r)
    }
    pub fn le(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Le, r)
    }
    pub fn ge(l: Expr, r: Expr) -> Cond {
        Cond::new(l, CmpOp::Ge, r)
    }
    pub fn lhs(&self) -> &Expr {
        unimplemented!()
    }
    pub fn op(&self) -> CmpOp {
        unimplemented!()
    }
    pub fn rhs(&self) -> &Expr {
        unimplemented!()
    }
    /// The logical negation (`a < b` becomes `a >= b`).
    pub fn negate(&self) -> Cond {
        unimplemented!()
    }
    pub fn eval(&self, _values: &dyn SymbolLookup) -> Result<bool, EvalError> {
        unimplemented!()
    }
    /// `Some(b)` when the condition is constant (mentions no symbol).
    pub fn as_bool(&self) -> Option<bool> {
        unimplemented!()
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        unimplemented!()
    }
}
impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The first guard of a set that does not hold for some values, for "why did this miss".
#[derive(Debug, Clone, PartialEq)]
pub struct GuardFailure {
    pub cond: Cond,
    /// The values of both sides, or the evaluation error.
    pub lhs: Result<i64, EvalError>,
    pub rhs: Result<i64, EvalError>,
}

/// A conjunction of conditions: the validity domain of one compiled specialisation.
/// Deterministically ordered and free of duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuardSet {/* private */}

impl GuardSet {
    pub fn new(_conds: Vec<Cond>) -> GuardSet {
        unimplemented!()
    }
    pub fn conds(&self) -> &[Cond] {
        unimplemented!()
    }
    pub fn is_empty(&self) -> bool {
        unimplemented!()
    }
    /// True when every condition holds. An evaluation error (overflow, unbound symbol) is an
    /// error, which a caller treats as "does not hold".
    pub fn eval(&self, _values: &dyn SymbolLookup) -> Result<bool, EvalError> {
        unimplemented!()
    }
    /// The first condition that does not hold (or cannot be evaluated), if any.
    pub fn first_failure(&self, _values: &dyn SymbolLookup) -> Option<GuardFailure> {
        unimplemented!()
    }
}

/// `N*M < 2147483648 and H == 8`, or `true` when empty.
impl fmt::Display for GuardSet {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        unimplemented!()
    }
}
