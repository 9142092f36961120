//! Errors of compiling, loading and running CPU programs.
use kiln_ir::DType;

/// Why a program could not be compiled to machine code or an artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("the host ISA is not supported by Cranelift: {0}")]
    HostIsa(String),
    #[error("kernel `{kernel}`: {msg}")]
    Codegen { kernel: String, msg: String },
    #[error("kernel `{kernel}`: Cranelift failed: {msg}")]
    Cranelift { kernel: String, msg: String },
    #[error("artifact was compiled by kiln-cpu {found}, this is kiln-cpu {expected}: recompile it")]
    VersionMismatch { expected: String, found: String },
    #[error("artifact was compiled for `{found}`, this host is `{expected}`: recompile it")]
    IsaMismatch { expected: String, found: String },
    #[error("artifact kernel `{kernel}`: unsupported relocation {what}")]
    UnsupportedReloc { kernel: String, what: String },
    /// Damage Cranelift would not catch (it patches relocations unchecked in release builds).
    #[error("artifact kernel `{kernel}` is damaged: {what}")]
    BadArtifact { kernel: String, what: String },
    #[error("artifact's program is malformed: {0}")]
    BadProgram(#[from] kiln_sched::VerifyError),
    #[error("artifact has {found} kernels but its program has {expected}")]
    KernelCount { expected: usize, found: usize },
}

/// Why a compiled program refused to run on the given tensors. Checked before any kernel runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("expected {expected} inputs, found {found}")]
    InputCount { expected: usize, found: usize },
    #[error("expected {expected} output tensors, found {found}")]
    OutputCount { expected: usize, found: usize },
    #[error("{role} `{name}`: expected dtype {expected}, found {found}")]
    Dtype {
        role: &'static str,
        name: String,
        expected: DType,
        found: DType,
    },
    #[error("{role} `{name}`: expected rank {expected}, found rank {found}")]
    Rank {
        role: &'static str,
        name: String,
        expected: usize,
        found: usize,
    },
    #[error("{role} `{name}` dim {dim}: expected size {expected}, found {found}")]
    Dim {
        role: &'static str,
        name: String,
        dim: usize,
        expected: String,
        found: usize,
    },
    #[error(
        "symbol `{symbol}` is {first_value} at input `{first_input}` dim {first_dim} but {second_value} at input `{second_input}` dim {second_dim}"
    )]
    InconsistentSymbol {
        symbol: String,
        first_input: String,
        first_dim: usize,
        first_value: i64,
        second_input: String,
        second_dim: usize,
        second_value: i64,
    },
    #[error(
        "{role} `{name}`: a {dtype} tensor of shape {shape:?} needs {expected} bytes, found {found}"
    )]
    ByteLength {
        role: &'static str,
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        expected: String,
        found: usize,
    },
    #[error("symbol `{0}` is used by the program but no input binds it")]
    UnboundSymbol(String),
    #[error("size `{expr}` cannot be evaluated: {msg}")]
    Size { expr: String, msg: String },
    /// The program's kernels would index outside their buffers at these sizes: a program
    /// that does not fit its own guards (e.g. a damaged cache entry). Nothing ran.
    #[error("the program refuses these sizes: {0}")]
    Access(#[from] kiln_sched::AccessError),
    /// A library step (GEMM, convolution) this build cannot run.
    #[error("library call `{call}`: {msg}")]
    Library { call: String, msg: String },
    /// An output or temporary too large for this machine (checked before any kernel runs).
    #[error("{role} `{name}`: cannot allocate it: {source}")]
    Alloc {
        role: &'static str,
        name: String,
        source: kiln_ir::AllocError,
    },
}
