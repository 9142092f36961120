//! Everything `kiln` reports as `kiln: error: ...` (exit code 1).
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
    #[error("{}: {source}", .path.display())]
    Graph {
        path: PathBuf,
        #[source]
        source: Box<kiln::KilnError>,
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

pub type CliResult<T> = Result<T, CliError>;
