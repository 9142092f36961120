//! The shape environment: symbols with hints and ranges, and the guards recorded so far.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::cond::{Cond, GuardSet};
use crate::expr::{EvalError, Expr};

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
pub struct ShapeEnv {/* private */}

impl ShapeEnv {
    pub fn new() -> ShapeEnv {
        unimplemented!()
    }
    /// Creates a symbol (idempotent for the same name and hint) and returns it as an expression.
    pub fn create_symbol(
        &mut self,
        _name: &str,
        _hint: i64,
        _range: ValueRange,
    ) -> Result<Expr, ShapeError> {
        unimplemented!()
    }
    pub fn symbol(&self, _name: &str) -> Option<&SymbolInfo> {
        unimplemented!()
    }
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolInfo> {
        std::iter::empty()
    }
    /// The hints of every symbol.
    pub fn hints(&self) -> Bindings {
        unimplemented!()
    }
    /// The value of `e` on the hints. Records nothing: use it for sizes that are only *used*
    /// (allocations, loop trip counts at launch), never for decisions about generated code.
    pub fn size_hint(&self, _e: &Expr) -> Result<i64, ShapeError> {
        unimplemented!()
    }
    /// Answers `cond` on the hints and records the answer (`cond` or its negation) as a guard,
    /// unless the symbols' ranges alone already decide it.
    pub fn decide(&mut self, _cond: &Cond) -> Result<bool, ShapeError> {
        unimplemented!()
    }
    /// Fixes `e` to its hint value, recording `e == hint` unless `e` is constant.
    pub fn specialize(&mut self, _e: &Expr) -> Result<i64, ShapeError> {
        unimplemented!()
    }
    /// Whether the ranges alone decide `cond` (no hint is consulted, nothing recorded).
    pub fn statically_known(&self, _cond: &Cond) -> Option<bool> {
        unimplemented!()
    }
    /// Adds a guard unconditionally (used on a cache hit, to carry a stored entry's guards).
    pub fn record(&mut self, _cond: Cond) {
        unimplemented!()
    }
    /// The guards recorded so far, in the order they were recorded, without duplicates.
    pub fn guards(&self) -> &[Cond] {
        unimplemented!()
    }
    /// The guard set that must hold for the code compiled in this environment to be valid.
    pub fn produce_guards(&self) -> GuardSet {
        unimplemented!()
    }
}
