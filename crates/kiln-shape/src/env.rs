//! The shape environment: symbols with hints and ranges, and the guards recorded so far.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::bounds::bounds;
use crate::cond::{CmpOp, Cond};
use crate::expr::{EvalError, Expr};
use crate::guards::GuardSet;
use crate::implied::implies;

/// Anything that gives symbols values.
pub trait SymbolLookup {
    fn value(&self, name: &str) -> Option<i64>;
}

/// Concrete values of symbols.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings(pub BTreeMap<String, i64>);

impl Bindings {
    pub fn new() -> Bindings {
        Bindings::default()
    }
    pub fn insert(&mut self, name: &str, v: i64) {
        self.0.insert(name.to_string(), v);
    }
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }
}
impl SymbolLookup for Bindings {
    fn value(&self, name: &str) -> Option<i64> {
        self.get(name)
    }
}

/// An inclusive range `lo..=hi` of values a symbol may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRange {
    pub lo: i64,
    pub hi: i64,
}

impl ValueRange {
    pub const SIZE: ValueRange = ValueRange {
        lo: 0,
        hi: i64::MAX,
    };
    /// Sizes of dynamic symbols: 0 and 1 are always specialised, so a symbol is at least 2.
    pub const DYNAMIC_SIZE: ValueRange = ValueRange {
        lo: 2,
        hi: i64::MAX,
    };
    /// Every `i64`.
    pub const ANY: ValueRange = ValueRange {
        lo: i64::MIN,
        hi: i64::MAX,
    };
    pub fn new(lo: i64, hi: i64) -> ValueRange {
        ValueRange { lo, hi }
    }
    pub fn contains(&self, v: i64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub name: String,
    pub hint: i64,
    pub range: ValueRange,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("symbol `{0}` is not defined in the shape environment")]
    UnknownSymbol(String),
    #[error("symbol `{name}` was already created with hint {existing}, not {new}")]
    Redefined {
        name: String,
        existing: i64,
        new: i64,
    },
    #[error("hint {hint} of symbol `{name}` lies outside its range {lo}..={hi}")]
    HintOutOfRange {
        name: String,
        hint: i64,
        lo: i64,
        hi: i64,
    },
    #[error("cannot evaluate `{what}` on the hints: {source}")]
    Eval { what: String, source: EvalError },
}

/// Symbols with example values (hints) and ranges, plus the guards recorded while compiling.
#[derive(Debug, Clone, Default)]
pub struct ShapeEnv {
    /// In creation order.
    symbols: Vec<SymbolInfo>,
    index: BTreeMap<String, usize>,
    /// In recording order, without duplicates (`recorded` holds the same conditions).
    guards: Vec<Cond>,
    recorded: BTreeSet<Cond>,
}

/// An environment gives its symbols their hints.
impl SymbolLookup for ShapeEnv {
    fn value(&self, name: &str) -> Option<i64> {
        self.symbol(name).map(|s| s.hint)
    }
}

impl ShapeEnv {
    pub fn new() -> ShapeEnv {
        ShapeEnv::default()
    }
    /// Creates a symbol (idempotent for the same name and hint) and returns it as an expression.
    /// A second creation keeps the first range.
    pub fn create_symbol(
        &mut self,
        name: &str,
        hint: i64,
        range: ValueRange,
    ) -> Result<Expr, ShapeError> {
        if let Some(existing) = self.symbol(name) {
            if existing.hint != hint {
                return Err(ShapeError::Redefined {
                    name: name.to_string(),
                    existing: existing.hint,
                    new: hint,
                });
            }
            return Ok(Expr::sym(name));
        }
        if !range.contains(hint) {
            return Err(ShapeError::HintOutOfRange {
                name: name.to_string(),
                hint,
                lo: range.lo,
                hi: range.hi,
            });
        }
        self.index.insert(name.to_string(), self.symbols.len());
        self.symbols.push(SymbolInfo {
            name: name.to_string(),
            hint,
            range,
        });
        Ok(Expr::sym(name))
    }
    pub fn symbol(&self, name: &str) -> Option<&SymbolInfo> {
        self.index.get(name).and_then(|&i| self.symbols.get(i))
    }
    /// Every symbol, in creation order.
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolInfo> {
        self.symbols.iter()
    }
    /// The hints of every symbol.
    pub fn hints(&self) -> Bindings {
        Bindings(
            self.symbols
                .iter()
                .map(|s| (s.name.clone(), s.hint))
                .collect(),
        )
    }
    /// The value of `e` on the hints. Records nothing: use it for sizes that are only *used*
    /// (allocations, loop trip counts at launch), never for decisions about generated code.
    pub fn size_hint(&self, e: &Expr) -> Result<i64, ShapeError> {
        e.eval(self).map_err(|source| eval_error(e, source))
    }
    /// The values `e` can take given the symbols' ranges (interval arithmetic; the hints are not
    /// consulted). Holds for every assignment on which `e` evaluates without error.
    /// Hand-built remainders are folded first, so that `H - 2*(H//2)` is bounded to `0..=1`.
    pub fn bounds(&self, e: &Expr) -> ValueRange {
        bounds(&e.fold_remainders(), &|name| {
            self.symbol(name).map(|s| s.range)
        })
    }
    /// Answers `cond` on the hints and records the answer (`cond` or its negation) as a guard,
    /// unless the symbols' ranges alone already decide it.
    pub fn decide(&mut self, cond: &Cond) -> Result<bool, ShapeError> {
        if let Some(known) = self.statically_known(cond) {
            return Ok(known);
        }
        let holds = cond.eval(self).map_err(|source| eval_error(cond, source))?;
        self.record_decided(if holds { cond.clone() } else { cond.negate() });
        Ok(holds)
    }
    /// Records a decided guard unless a recorded one implies it, and drops the recorded guards
    /// it implies: the conjunction stays the same, and a reader sees only the stronger guards
    /// (`C*H*N*W < 2147483648` without `C < 2147483648`).
    fn record_decided(&mut self, guard: Cond) {
        // Borrows only the symbol fields, so that the guards can change below.
        let (index, symbols) = (&self.index, &self.symbols);
        let range_of = |name: &str| {
            index
                .get(name)
                .and_then(|&i| symbols.get(i))
                .map(|s| s.range)
        };
        if self
            .guards
            .iter()
            .any(|known| implies(known, &guard, &range_of))
        {
            return;
        }
        let (implied, kept): (Vec<Cond>, Vec<Cond>) = std::mem::take(&mut self.guards)
            .into_iter()
            .partition(|known| implies(&guard, known, &range_of));
        for dropped in &implied {
            self.recorded.remove(dropped);
        }
        self.guards = kept;
        self.record(guard);
    }
    /// Fixes `e` to its hint value, recording `e == hint` unless `e` is constant (or its range
    /// is that single value).
    pub fn specialize(&mut self, e: &Expr) -> Result<i64, ShapeError> {
        if let Some(v) = e.as_int() {
            return Ok(v);
        }
        let value = self.size_hint(e)?;
        let guard = Cond::eq(e.clone(), Expr::int(value));
        if self.statically_known(&guard) != Some(true) {
            self.record(guard);
        }
        Ok(value)
    }
    /// Whether the ranges alone decide `cond` (no hint is consulted, nothing recorded).
    pub fn statically_known(&self, cond: &Cond) -> Option<bool> {
        if let Some(constant) = cond.as_bool() {
            return Some(constant);
        }
        let l = self.bounds(cond.lhs());
        let r = self.bounds(cond.rhs());
        // Whether `l op r` holds for every (always), or for no (never), pair of values.
        let (always, never) = match cond.op() {
            CmpOp::Lt => (l.hi < r.lo, l.lo >= r.hi),
            CmpOp::Le => (l.hi <= r.lo, l.lo > r.hi),
            CmpOp::Gt => (l.lo > r.hi, l.hi <= r.lo),
            CmpOp::Ge => (l.lo >= r.hi, l.hi < r.lo),
            CmpOp::Eq => (single_equal(l, r), disjoint(l, r)),
            CmpOp::Ne => (disjoint(l, r), single_equal(l, r)),
        };
        match (always, never) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        }
    }
    /// Adds a guard unconditionally (used on a cache hit, to carry a stored entry's guards).
    pub fn record(&mut self, cond: Cond) {
        if self.recorded.insert(cond.clone()) {
            self.guards.push(cond);
        }
    }
    /// The guards recorded so far, in the order they were recorded, without duplicates.
    pub fn guards(&self) -> &[Cond] {
        &self.guards
    }
    /// The guard set that must hold for the code compiled in this environment to be valid.
    pub fn produce_guards(&self) -> GuardSet {
        GuardSet::new(self.guards.clone())
    }
}

fn single_equal(l: ValueRange, r: ValueRange) -> bool {
    l.lo == l.hi && r.lo == r.hi && l.lo == r.lo
}

fn disjoint(l: ValueRange, r: ValueRange) -> bool {
    l.hi < r.lo || r.hi < l.lo
}

fn eval_error(what: &dyn std::fmt::Display, source: EvalError) -> ShapeError {
    match source {
        EvalError::Unbound(name) => ShapeError::UnknownSymbol(name),
        source => ShapeError::Eval {
            what: what.to_string(),
            source,
        },
    }
}
