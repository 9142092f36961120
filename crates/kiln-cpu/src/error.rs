//! Errors of compiling, loading and running CPU programs.

/// Why a program could not be compiled to machine code or an artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("the host ISA is not supported by Cranelift: {0}")]
    HostIsa(String),
    /// The backend could not emit a kernel (the typed reason is the source).
    #[error("kernel `{kernel}`: {source}")]
    Codegen {
        kernel: String,
        #[source]
        source: crate::codegen::CodegenError,
    },
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
    /// A tensor that does not fit the program's specs (the shared type: input, dim,
    /// expected, found).
    #[error(transparent)]
    Input(#[from] kiln_ir::InputError),
    #[error("symbol `{0}` is used by the program but no input binds it")]
    UnboundSymbol(String),
    #[error("size `{expr}` cannot be evaluated: {msg}")]
    Size { expr: String, msg: String },
    /// The program's kernels would index outside their buffers at these sizes: a program
    /// that does not fit its own guards (e.g. a damaged cache entry). Nothing ran.
    #[error("the program refuses these sizes: {0}")]
    Access(#[from] kiln_sched::AccessError),
    /// A gather-family step (`index_select`, `gather`, `scatter_add`, `index_add`,
    /// `embedding`) met an index outside its dim; torch: "index out of range in self". Checked
    /// before the step reads or writes any element.
    #[error(
        "node `{node}` ({op}): index {index} is out of bounds for dimension {dim} with size {size} \
         (index out of range in self)"
    )]
    IndexOutOfRange {
        node: String,
        op: String,
        index: i64,
        dim: usize,
        size: usize,
    },
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
