//! Guard sets: the conjunction of conditions under which one compiled specialisation is valid.
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::cond::Cond;
use crate::env::SymbolLookup;
use crate::expr::EvalError;

/// The first guard of a set that does not hold for some values, for "why did this miss".
#[derive(Debug, Clone, PartialEq)]
pub struct GuardFailure {
    pub cond: Cond,
    /// The values of both sides, or the evaluation error.
    pub lhs: Result<i64, EvalError>,
    pub rhs: Result<i64, EvalError>,
}

impl fmt::Display for GuardFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |r: &Result<i64, EvalError>| match r {
            Ok(v) => v.to_string(),
            Err(e) => format!("<{e}>"),
        };
        write!(
            f,
            "guard `{}` does not hold: {} {} {}",
            self.cond,
            side(&self.lhs),
            self.cond.op(),
            side(&self.rhs)
        )
    }
}

/// A conjunction of conditions: the validity domain of one compiled specialisation.
/// Deterministically ordered and free of duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<Cond>", into = "Vec<Cond>")]
pub struct GuardSet {
    /// Sorted by the canonical order of conditions, without duplicates.
    conds: Vec<Cond>,
}

impl GuardSet {
    pub fn new(mut conds: Vec<Cond>) -> GuardSet {
        conds.sort();
        conds.dedup();
        GuardSet { conds }
    }
    pub fn conds(&self) -> &[Cond] {
        &self.conds
    }
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }
    pub fn len(&self) -> usize {
        self.conds.len()
    }
    /// True when every condition holds. An evaluation error (overflow, unbound symbol) is an
    /// error, which a caller treats as "does not hold".
    pub fn eval(&self, values: &dyn SymbolLookup) -> Result<bool, EvalError> {
        for cond in &self.conds {
            if !cond.eval(values)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    /// The first condition that does not hold (or cannot be evaluated), if any.
    pub fn first_failure(&self, values: &dyn SymbolLookup) -> Option<GuardFailure> {
        self.conds
            .iter()
            .find(|cond| !matches!(cond.eval(values), Ok(true)))
            .map(|cond| GuardFailure {
                cond: cond.clone(),
                lhs: cond.lhs().eval(values),
                rhs: cond.rhs().eval(values),
            })
    }
    /// Every symbol the guards mention.
    pub fn symbols(&self) -> std::collections::BTreeSet<String> {
        self.conds.iter().flat_map(|c| c.symbols()).collect()
    }
}

/// Deserialised sets are re-sorted, so a stored set cannot break the ordering invariant.
impl From<Vec<Cond>> for GuardSet {
    fn from(conds: Vec<Cond>) -> GuardSet {
        GuardSet::new(conds)
    }
}
impl From<GuardSet> for Vec<Cond> {
    fn from(set: GuardSet) -> Vec<Cond> {
        set.conds
    }
}

/// `N*M < 2147483648 and H == 8`, or `true` when empty.
impl fmt::Display for GuardSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conds.is_empty() {
            return f.write_str("true");
        }
        for (i, cond) in self.conds.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{cond}")?;
        }
        Ok(())
    }
}
