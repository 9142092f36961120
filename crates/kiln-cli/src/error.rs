//! Everything `kiln` reports as `kiln: error: ...` (exit code 1, or 2 for usage errors).
use std::path::PathBuf;

use crate::npy::NpyError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {what} {}: {source}", .path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `.kiln` file that does not parse: `file:line:col: message`.
    #[error("{}:{line}:{col}: {msg}", .path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        col: usize,
        msg: String,
    },
    /// An ONNX model kiln cannot import.
    #[error("{}: {source}", .path.display())]
    Onnx {
        path: PathBuf,
        #[source]
        source: Box<kiln_onnx::OnnxError>,
    },
    #[error("{}: {source}", .path.display())]
    Graph {
        path: PathBuf,
        #[source]
        source: Box<kiln::KilnError>,
    },
    /// `--grad`: the graph cannot be differentiated (an integer input, an op without a rule).
    #[error("{}: --grad: {source}", .path.display())]
    Grad {
        path: PathBuf,
        #[source]
        source: Box<kiln::GradError>,
    },
    #[error("input `{input}` ({}): {source}", .path.display())]
    Npy {
        input: String,
        path: PathBuf,
        #[source]
        source: NpyError,
    },
    #[error("{0}")]
    Usage(String),
    #[error(
        "input `{input}` with shape {shape} is too large: its nonzero dims multiply to \
         {product} elements, more than the {limit} {dtype} elements a tensor can hold \
         (isize::MAX bytes)"
    )]
    TooLarge {
        input: String,
        shape: String,
        product: String,
        dtype: kiln_ir::DType,
        limit: u128,
    },
    /// Boxed: kiln's errors are large and every function here returns this type.
    #[error(transparent)]
    Kiln(Box<kiln::KilnError>),
    #[error(transparent)]
    Cache(#[from] kiln_cache::CacheError),
    #[error("{0}")]
    Backend(String),
}

impl From<kiln::KilnError> for CliError {
    fn from(e: kiln::KilnError) -> Self {
        CliError::Kiln(Box::new(e))
    }
}

impl CliError {
    /// 2 for a command line that cannot mean anything (as clap's own usage errors), 1 for
    /// everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;
