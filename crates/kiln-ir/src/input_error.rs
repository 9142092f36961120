//! The one error type for a caller's tensors that do not fit what a graph or program declares:
//! count, dtype, rank, a dim, a symbol bound twice, byte length, an unknown or missing
//! parameter. The driver, the reference interpreter and every launcher report it, so a caller
//! (or a Python binding) matches one type whichever layer noticed.
use kiln_shape::BindError;

use crate::dtype::DType;
use crate::tensor::Tensor;

/// Which of the caller's tensors an [`InputError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A data input, passed with every call.
    Input,
    /// A parameter, bound once (`kiln::CompiledFunction::bind`).
    Param,
    /// A caller-provided output (`run_into`).
    Output,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Param => "parameter",
            Role::Output => "output",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("expected {expected} {role}s, found {found}")]
    Count {
        role: Role,
        expected: usize,
        found: usize,
    },
    #[error("{role} `{name}`: expected dtype {expected}, found {found}")]
    Dtype {
        role: Role,
        name: String,
        expected: DType,
        found: DType,
    },
    #[error("{role} `{name}`: expected rank {expected}, found rank {found}")]
    Rank {
        role: Role,
        name: String,
        expected: usize,
        found: usize,
    },
    /// `expected` is the declared size: an integer, a symbol or an expression of symbols.
    #[error("{role} `{name}` dim {dim}: expected size {expected}, found {found}")]
    Dim {
        role: Role,
        name: String,
        dim: usize,
        expected: String,
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
    #[error("{role} `{name}` dim {dim}: size {found} is negative or too large")]
    BadSize {
        role: Role,
        name: String,
        dim: usize,
        found: i64,
    },
    #[error(
        "{role} `{name}`: a {dtype} tensor of shape {shape:?} needs {expected} bytes, found {found}"
    )]
    Bytes {
        role: Role,
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        /// The byte count the shape needs, or why it has none (it overflows usize).
        expected: String,
        found: usize,
    },
    #[error("unknown parameter `{name}`: the graph's parameters are {known}")]
    UnknownParam { name: String, known: String },
    #[error("parameter `{name}` is not bound")]
    MissingParam { name: String },
    #[error("parameter `{name}` is bound twice")]
    DuplicateParam { name: String },
}

impl From<BindError> for InputError {
    /// The shared binder's findings, which are always about data inputs (parameters are
    /// checked when they are bound, outputs against already bound sizes).
    fn from(e: BindError) -> InputError {
        let role = Role::Input;
        match e {
            BindError::InputCount { expected, found } => InputError::Count {
                role,
                expected,
                found,
            },
            BindError::Rank {
                input,
                expected,
                found,
            } => InputError::Rank {
                role,
                name: input,
                expected,
                found,
            },
            BindError::FixedDim {
                input,
                dim,
                expected,
                found,
            } => InputError::Dim {
                role,
                name: input,
                dim,
                expected: expected.to_string(),
                found,
            },
            BindError::ExprDim {
                input,
                dim,
                expected,
                found,
            } => InputError::Dim {
                role,
                name: input,
                dim,
                expected,
                found,
            },
            BindError::BadSize { input, dim, found } => InputError::BadSize {
                role,
                name: input,
                dim,
                found,
            },
            BindError::Conflict {
                symbol,
                first_input,
                first_dim,
                first_value,
                second_input,
                second_dim,
                second_value,
            } => InputError::Conflict {
                symbol,
                first_input,
                first_dim,
                first_value,
                second_input,
                second_dim,
                second_value,
            },
        }
    }
}

/// The tensor's dtype is `expected`.
pub fn check_dtype(role: Role, name: &str, expected: DType, t: &Tensor) -> Result<(), InputError> {
    if t.dtype != expected {
        return Err(InputError::Dtype {
            role,
            name: name.to_string(),
            expected,
            found: t.dtype,
        });
    }
    Ok(())
}

/// The tensor's bytes are exactly its dtype and shape's (checked multiplication): the one
/// check that keeps a kernel reading a tensor's declared elements inside its memory.
pub fn check_bytes(role: Role, name: &str, t: &Tensor) -> Result<(), InputError> {
    let bytes = t
        .shape
        .iter()
        .try_fold(t.dtype.size(), |acc, &d| acc.checked_mul(d));
    if bytes != Some(t.data.len()) {
        return Err(InputError::Bytes {
            role,
            name: name.to_string(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            expected: bytes.map_or("more than usize::MAX".to_string(), |b| b.to_string()),
            found: t.data.len(),
        });
    }
    Ok(())
}

/// The tensor has exactly this fixed shape (rank first, then each dim).
pub fn check_shape(
    role: Role,
    name: &str,
    expected: &[usize],
    t: &Tensor,
) -> Result<(), InputError> {
    if t.shape.len() != expected.len() {
        return Err(InputError::Rank {
            role,
            name: name.to_string(),
            expected: expected.len(),
            found: t.shape.len(),
        });
    }
    for (dim, (&e, &found)) in expected.iter().zip(&t.shape).enumerate() {
        if e != found {
            return Err(InputError::Dim {
                role,
                name: name.to_string(),
                dim,
                expected: e.to_string(),
                found: i64::try_from(found).unwrap_or(i64::MAX),
            });
        }
    }
    Ok(())
}
