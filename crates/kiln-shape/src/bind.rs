//! From concrete input shapes to symbol values, and from those to a specialised environment.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::env::{Bindings, ShapeEnv, ShapeError, ValueRange};
use crate::expr::Expr;

/// A declared dimension: a fixed size or a symbol name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dim {
    Fixed(i64),
    Sym(String),
}

impl Dim {
    pub fn sym(name: &str) -> Dim {
        Dim::Sym(name.to_string())
    }

    /// The dim as an expression: a constant or a symbol.
    pub fn to_expr(&self) -> Expr {
        match self {
            Dim::Fixed(v) => Expr::int(*v),
            Dim::Sym(s) => Expr::sym(s),
        }
    }
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

impl Policy {
    /// Whether `symbol` stays symbolic (when its value is neither 0 nor 1).
    pub fn is_dynamic(&self, symbol: &str) -> bool {
        match self {
            Policy::Static => false,
            Policy::Dynamic => true,
            Policy::DynamicSymbols(names) => names.contains(symbol),
        }
    }
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
    #[error("input `{input}` dim {dim}: expected size {expected}, found {found}")]
    ExprDim {
        input: String,
        dim: usize,
        expected: String,
        found: i64,
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
    decls: &[(String, Vec<Dim>)],
    shapes: &[Vec<i64>],
) -> Result<Bindings, BindError> {
    let exprs: Vec<Vec<Expr>> = decls
        .iter()
        .map(|(_, dims)| dims.iter().map(Dim::to_expr).collect())
        .collect();
    let specs: Vec<(&str, &[Expr])> = decls
        .iter()
        .zip(&exprs)
        .map(|((name, _), dims)| (name.as_str(), dims.as_slice()))
        .collect();
    bind_shapes(&specs, shapes)
}

/// Binds symbols from concrete shapes against (specialised) symbolic ones, and checks every dim:
/// a constant must equal its size, a symbol takes one value wherever it stands alone (a
/// conflict names both places), and a dim that is an expression of symbols is checked once
/// every symbol has a value. The one binding mechanism behind the driver's declared dims and
/// the backends' checks of a call's inputs. `specs[i] = (input name, dims)`.
pub fn bind_shapes<S, T>(specs: &[(&str, &[Expr])], shapes: &[S]) -> Result<Bindings, BindError>
where
    S: AsRef<[T]>,
    T: Copy + TryInto<i64>,
{
    if specs.len() != shapes.len() {
        return Err(BindError::InputCount {
            expected: specs.len(),
            found: shapes.len(),
        });
    }
    let mut bindings = Bindings::new();
    // Where each symbol was first seen: (input, dim), to name both places in a conflict.
    let mut first_seen: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    let mut composite = Vec::new();
    for (&(input, dims), shape) in specs.iter().zip(shapes) {
        let shape = shape.as_ref();
        if dims.len() != shape.len() {
            return Err(BindError::Rank {
                input: input.to_string(),
                expected: dims.len(),
                found: shape.len(),
            });
        }
        for (dim, (declared, &size)) in dims.iter().zip(shape).enumerate() {
            // A size beyond i64 (possible only from a usize) reads as i64::MAX in the error.
            let size: i64 = size.try_into().unwrap_or(i64::MAX);
            if size < 0 || size == i64::MAX {
                return Err(BindError::BadSize {
                    input: input.to_string(),
                    dim,
                    found: size,
                });
            }
            if let Some(expected) = declared.as_int() {
                if expected != size {
                    return Err(BindError::FixedDim {
                        input: input.to_string(),
                        dim,
                        expected,
                        found: size,
                    });
                }
            } else if let Some(symbol) = declared.as_sym() {
                match (bindings.get(symbol), first_seen.get(symbol)) {
                    (Some(first_value), Some(&(first_input, first_dim))) if first_value != size => {
                        return Err(BindError::Conflict {
                            symbol: symbol.to_string(),
                            first_input: first_input.to_string(),
                            first_dim,
                            first_value,
                            second_input: input.to_string(),
                            second_dim: dim,
                            second_value: size,
                        });
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        bindings.insert(symbol, size);
                        first_seen.insert(symbol, (input, dim));
                    }
                }
            } else {
                composite.push((input, dim, declared, size));
            }
        }
    }
    for (input, dim, declared, size) in composite {
        if declared.eval(&bindings) != Ok(size) {
            return Err(BindError::ExprDim {
                input: input.to_string(),
                dim,
                expected: declared.to_string(),
                found: size,
            });
        }
    }
    Ok(bindings)
}

/// Creates the symbols of `decls` in `env` under `policy` and returns each input's specialised
/// shape: a fixed dim as a constant, a static or 0/1-valued symbol as its constant value (recording
/// `sym == value`), a dynamic symbol as `Expr::sym` with range `>= 2`.
pub fn specialize_inputs(
    env: &mut ShapeEnv,
    decls: &[(String, Vec<Dim>)],
    values: &Bindings,
    policy: &Policy,
) -> Result<Vec<Vec<Expr>>, ShapeError> {
    decls
        .iter()
        .map(|(_, dims)| {
            dims.iter()
                .map(|dim| specialize_dim(env, dim, values, policy))
                .collect()
        })
        .collect()
}

fn specialize_dim(
    env: &mut ShapeEnv,
    dim: &Dim,
    values: &Bindings,
    policy: &Policy,
) -> Result<Expr, ShapeError> {
    let symbol = match dim {
        Dim::Fixed(size) => return Ok(Expr::int(*size)),
        Dim::Sym(symbol) => symbol,
    };
    let value = values
        .get(symbol)
        .ok_or_else(|| ShapeError::UnknownSymbol(symbol.clone()))?;
    // 0 and 1 change broadcasting and emptiness, so code compiled for them never generalises.
    if policy.is_dynamic(symbol) && value >= ValueRange::DYNAMIC_SIZE.lo {
        return env.create_symbol(symbol, value, ValueRange::DYNAMIC_SIZE);
    }
    let sym = env.create_symbol(symbol, value, ValueRange::SIZE)?;
    Ok(Expr::int(env.specialize(&sym)?))
}
