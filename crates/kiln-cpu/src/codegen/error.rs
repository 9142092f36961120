//! Why a kernel could not be emitted as CLIF. Each variant names the problem; the kernel's
//! name is added by [`crate::CpuError::Codegen`], which carries this as its source.
use kiln_ir::DType;
use kiln_sched::{BufId, ReduceKind};

use crate::math::MathError;

/// A load or a store, for [`CodegenError::VectorAccess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemAccess {
    Load,
    Store,
}

impl std::fmt::Display for MemAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemAccess::Load => "load",
            MemAccess::Store => "store",
        })
    }
}

/// Why the CPU backend could not emit a kernel. These are malformed programs (a damaged
/// artifact, a kiln-sched bug) or combinations the vector loops do not handle; planning keeps
/// valid programs off the latter, so a user sees one only through a bug, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    #[error("buffer {buf} is not declared")]
    UndeclaredBuffer { buf: BufId },
    #[error("buffer {buf} was not loaded")]
    BufferNotLoaded { buf: BufId },
    #[error("symbol `{name}` has no value in this kernel")]
    UnboundSymbol { name: String },
    /// An instruction reads a value id that no earlier instruction defines.
    #[error("use of undefined value {id}")]
    UndefinedValue { id: u32 },
    /// A tiled row's staged values do not fit a stack frame.
    #[error("a tile of this kernel stages {slots} values, more than a stack slot holds")]
    TileScratch { slots: u32 },
    #[error("store of undefined value {id}")]
    UndefinedStoreValue { id: u32 },
    #[error("reduction value {id} is undefined")]
    UndefinedReductionValue { id: u32 },
    /// A vector loop met a buffer type it has no vector access for.
    #[error("{dtype} buffers are not accessed by vector loops (a vector {access})")]
    VectorAccess { dtype: DType, access: MemAccess },
    #[error("vector condition in a scalar select")]
    VectorConditionInScalarSelect,
    #[error("`Reduced` outside a kernel with a reduction")]
    ReducedOutsideReduction,
    #[error("a whole-row plan without a reduction")]
    WholeRowWithoutReduction,
    /// A reduction of this kind with per-element window conditions.
    #[error("an {kind:?} reduction with window conditions is not supported")]
    UnsupportedWindowedReduction { kind: ReduceKind },
    #[error("min/max without arguments")]
    EmptyMinMax,
    #[error("a vector without lanes")]
    EmptyVector,
    /// An inline math routine refused its operand types.
    #[error(transparent)]
    Math(#[from] MathError),
}
