//! From concrete input shapes to symbol values, and from those to a specialised environment.
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

use crate::env::{Bindings, ShapeEnv, ShapeError};
use crate::expr::Expr;

/// A declared dimension: a fixed size or a symbol name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dim {
    Fixed(i64),
    Sym(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// How symbols become sizes when an environment is built from concrete inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Policy {
    /// Every dimension is specialised to its value.
    Static,
    /// Symbols stay symbolic, except that values 0 and 1 are specialised.
    Dynamic,
    /// Only the named symbols are dynamic; the others are specialised.
    DynamicSymbols(BTreeSet<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("expected {expected} inputs, found {found}")]
    InputCount { expected: usize, found: usize },
    #[error("input `{input}`: expected rank {expected}, found rank {found}")]
    Rank {
        input: String,
        expected: usize,
        found: usize,
    },
    #[error("input `{input}` dim {dim}: expected size {expected}, found {found}")]
    FixedDim {
        input: String,
        dim: usize,
        expected: i64,
        found: i64,
    },
    #[error(
        "symbol `{symbol}` is {first_value} at input `{first_input}` dim {first_dim} but {second_value} at input `{second_input}` dim {second_dim}"
    )]
    Conflict {
        symbol: String,
        first_input: String,
        first_dim: usize,
        first_value: i64,
        second_input: String,
        second_dim: usize,
        second_value: i64,
    },
    #[error("input `{input}` dim {dim}: size {found} is negative or too large")]
    BadSize {
        input: String,
        dim: usize,
        found: i64,
    },
}

/// Binds declared input dims to concrete shapes. `decls[i] = (input name, declared dims)`.
pub fn bind_symbols(
    _decls: &[(String, Vec<Dim>)],
    _shapes: &[Vec<i64>],
) -> Result<Bindings, BindError> {
    unimplemented!()
}

/// Creates the symbols of `decls` in `env` under `policy` and returns each input's specialised
/// shape: a fixed dim as a constant, a static or 0/1-valued symbol as its constant value (recording
/// `sym == value`), a dynamic symbol as `Expr::sym` with range `>= 2`.
pub fn specialize_inputs(
    _env: &mut ShapeEnv,
    _decls: &[(String, Vec<Dim>)],
    _values: &Bindings,
    _policy: &Policy,
) -> Result<Vec<Vec<Expr>>, ShapeError> {
    unimplemented!()
}
