//! The kernel IR: what both backends generate code from.
//!
//! A [`Program`] is a list of [`Kernel`]s over numbered buffers. A kernel is a loop nest over an
//! iteration space (`dims`, loop variables `%o0, %o1, ...`), optionally with a reduction loop
//! nest inside each point (`%r0, ...`), a list of scalar instructions in SSA form and the stores
//! that write results. Every size, offset and bound is a [`kiln_shape::Expr`] over the graph's
//! symbols and the loop variables, evaluated at launch: one compiled kernel serves every shape
//! that satisfies its guards.
use kiln_ir::{BinaryOp, DType, UnaryOp};
use kiln_shape::{Cond, Expr};
use serde::{Deserialize, Serialize};

mod pool_grad;
pub use crate::index_call::{IndexCall, IndexKind, PoolIndicesCall};
pub use pool_grad::{PoolBackward, PoolBackwardKind};

/// Index of a buffer in [`Program::buffers`].
pub type BufId = u32;
/// Index of an instruction in the list it belongs to (a kernel's `body` or a reduction's `body`).
pub type ValueId = u32;

/// The name of the `i`-th iteration-space loop variable.
pub fn outer_var(i: usize) -> String {
    format!("%o{i}")
}
/// The name of the `i`-th reduction loop variable.
pub fn reduce_var(i: usize) -> String {
    format!("%r{i}")
}
/// Whether a symbol name is a loop variable rather than a graph symbol.
pub fn is_loop_var(name: &str) -> bool {
    name.starts_with('%')
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BufKind {
    /// The `i`-th graph input, provided by the caller.
    Input(usize),
    /// The `i`-th graph output, allocated at launch (or provided by `run_into`).
    Output(usize),
    /// An intermediate that fusion could not avoid (e.g. softmax's row max), allocated at launch.
    Temp,
    /// A tensor constant of the graph, stored in the program (little-endian bytes).
    Const(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferDecl {
    pub dtype: DType,
    /// Element count, in the symbols.
    pub numel: Expr,
    pub kind: BufKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    /// The specialised shape: constants and symbols (`[N, 64, 8, 9]`).
    pub shape: Vec<Expr>,
}

/// A scalar instruction; its result has the dtype of the [`Instr`] holding it. Values are
/// computed in `dtype.compute()` (f64 for f64, f32 otherwise); a bool is 0.0 or 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalarOp {
    /// Element `offset` of buffer `buf`, widened to the compute type.
    Load {
        buf: BufId,
        offset: Expr,
    },
    Const(f64),
    /// An integer expression of the loop variables and symbols, as a float (e.g. a divisor).
    Index(Expr),
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    /// `cond ? a : b`, with `cond` a bool value.
    Select(ValueId, ValueId, ValueId),
    /// Conversion to this instruction's dtype (rounding to f16/bf16 precision where it narrows).
    Cast(ValueId),
    /// In a kernel body after a reduction: the reduction's accumulated value.
    Reduced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instr {
    pub op: ScalarOp,
    pub dtype: DType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    Sum,
    /// NaN-propagating maximum, starting at -inf.
    Max,
    /// NaN-propagating minimum, starting at +inf.
    Min,
    /// The flat position (row-major over the reduction dims) of the first maximum, a NaN
    /// counting as larger than everything (torch's `argmax`); `reduced` is that index (i64).
    ArgMax,
    /// The first minimum's position, a NaN counting as smaller than everything (`argmin`).
    ArgMin,
}

impl ReduceKind {
    /// Whether the reduction yields an index (argmax/argmin) rather than a value.
    pub fn is_arg(self) -> bool {
        matches!(self, ReduceKind::ArgMax | ReduceKind::ArgMin)
    }
}

impl Reduction {
    /// The dtype `reduced` has in the kernel body: the accumulator's, or i64 for an index.
    pub fn result_dtype(&self) -> DType {
        if self.kind.is_arg() {
            DType::I64
        } else {
            self.acc
        }
    }
}

/// A reduction loop nest run at every point of the kernel's iteration space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reduction {
    /// Trip counts of `%r0, %r1, ...`.
    pub dims: Vec<Expr>,
    pub kind: ReduceKind,
    /// An element takes part only where all of these hold (pooling's padding, adaptive windows).
    pub valid: Vec<Cond>,
    /// Instructions run per reduction element; may use outer and reduction variables.
    pub body: Vec<Instr>,
    /// The value accumulated (an index into `body`).
    pub value: ValueId,
    /// The accumulator's dtype: f64 for f64 inputs, f32 otherwise.
    pub acc: DType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    pub buf: BufId,
    pub offset: Expr,
    pub value: ValueId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    pub name: String,
    /// Trip counts of `%o0, %o1, ...`, outermost first.
    pub dims: Vec<Expr>,
    pub reduce: Option<Reduction>,
    /// Instructions run per point of the iteration space, after the reduction (if any).
    pub body: Vec<Instr>,
    pub stores: Vec<Store>,
    /// 32 when every buffer this kernel indexes was proven (by a guard) to have fewer elements
    /// than the configured index limit, else 64.
    pub index_bits: u32,
}

/// A scheduled graph: buffers and the kernels to run, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub graph_name: String,
    /// The graph symbols kernels read, in the order of the launch-time `syms` array.
    pub symbols: Vec<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<(TensorSpec, BufId)>,
    pub buffers: Vec<BufferDecl>,
    /// The generated loop nests, in launch order among themselves.
    pub kernels: Vec<Kernel>,
    /// What a launch runs, in order: each kernel of `kernels` exactly once (in their order),
    /// interleaved with library calls (GEMM, convolution) that backends run with a library.
    pub steps: Vec<Step>,
}

/// One step of a program's launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// `kernels[i]`.
    Kernel(usize),
    /// A library kernel (see [`LibraryCall`]); boxed, since it is much larger than an index.
    Library(Box<LibraryCall>),
}

/// A step the backends run with a library routine instead of generated code, the way
/// Inductor and XLA call extern GEMMs: the CPU backend calls the `gemm` crate, the CUDA backend
/// cuBLAS. Its buffers, sizes and strides are expressions in the graph's symbols, like a
/// kernel's, evaluated and bounds-checked at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LibraryCall {
    Gemm(Box<Gemm>),
    Conv(Box<Conv>),
    /// A gather-family op (`index_select`, `gather`, `scatter_add`, `index_add`, `embedding`;
    /// see `index_call.rs`).
    Index(Box<IndexCall>),
    /// The indices of `max_pool2d(..., return_indices=True)` (see `index_call.rs`).
    PoolIndices(Box<PoolIndicesCall>),
    /// A gradient of a convolution (`convolution_backward_input` / `_weight`).
    ConvGrad(Box<ConvGrad>),
    /// The pool backward family's scatter (`ir/pool_grad.rs`).
    PoolBackward(Box<PoolBackward>),
}

/// A matrix operand of a [`Gemm`]: element `(batch..., i, j)` is at
/// `offset + sum(batch_k * batch_strides[k]) + i * row_stride + j * col_stride` (in elements),
/// so a transposed or broadcast operand is read in place (stride 0 broadcasts a batch dim).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRef {
    pub buf: BufId,
    pub offset: Expr,
    pub batch_strides: Vec<Expr>,
    pub row_stride: Expr,
    pub col_stride: Expr,
}

/// `c = beta * c + alpha * (a @ b)` for every index of `batch`, with `a` m x k, `b` k x n and
/// `c` m x n; `beta == 0` ignores what `c` held (it may be uninitialised). All three share
/// `dtype`; f16/bf16 accumulate in f32, as PyTorch does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gemm {
    pub name: String,
    pub dtype: DType,
    pub batch: Vec<Expr>,
    pub m: Expr,
    pub n: Expr,
    pub k: Expr,
    pub a: MatrixRef,
    pub b: MatrixRef,
    pub c: MatrixRef,
    pub alpha: f64,
    pub beta: f64,
}

/// A grouped 1-d or 2-d convolution (`spatial.len()` is 1 or 2) of contiguous `x`
/// (`[n, c_in, spatial...]`) with contiguous `w` (`[c_out, c_in / groups, kernel...]`) into
/// contiguous `out` (`[n, c_out, out_spatial...]`), PyTorch's `conv1d`/`conv2d` without bias
/// (a bias is an elementwise kernel after it). Padding is in elements, already resolved from
/// `"same"`/`"valid"`: `padding` before each dim, `padding_end` after it (PyTorch's `"same"`
/// pads an even kernel's extra element after).
///
/// With `transposed`, the call is `conv_transpose2d` (the adjoint of a convolution with these
/// parameters): `w` is `[c_in, c_out / groups, kernel...]`, `padding_end` equals `padding`, and
/// `out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    pub name: String,
    pub dtype: DType,
    pub x: BufId,
    pub w: BufId,
    pub out: BufId,
    pub n: Expr,
    pub c_in: Expr,
    pub c_out: Expr,
    pub spatial: Vec<Expr>,
    pub out_spatial: Vec<Expr>,
    pub kernel: Vec<i64>,
    pub stride: Vec<i64>,
    pub padding: Vec<i64>,
    pub padding_end: Vec<i64>,
    pub dilation: Vec<i64>,
    pub groups: i64,
    pub transposed: bool,
    /// Extra output size after the last dim (transposed only; zeros otherwise).
    pub output_padding: Vec<i64>,
}

/// Which gradient a [`ConvGrad`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConvGradOf {
    /// `convolution_backward_input`: writes `x`.
    Input,
    /// `convolution_backward_weight`: writes `w`.
    Weight,
}

/// A gradient of the convolution `conv` (never `transposed`), whose buffers keep their
/// forward roles so that its geometry and bounds are the forward call's: `conv.out` holds
/// `grad_output` (read), and the call writes the gradient of `conv.x` (`of == Input`,
/// reading `conv.w`) or of `conv.w` (`of == Weight`, reading `conv.x`), every element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvGrad {
    pub of: ConvGradOf,
    pub conv: Conv,
}

impl ConvGrad {
    /// The buffers read: `grad_output`, then the forward operand that is not written.
    pub fn reads(&self) -> Vec<BufId> {
        match self.of {
            ConvGradOf::Input => vec![self.conv.out, self.conv.w],
            ConvGradOf::Weight => vec![self.conv.out, self.conv.x],
        }
    }
    /// The buffer written: the gradient.
    pub fn writes(&self) -> BufId {
        match self.of {
            ConvGradOf::Input => self.conv.x,
            ConvGradOf::Weight => self.conv.w,
        }
    }
}

impl LibraryCall {
    pub fn name(&self) -> &str {
        match self {
            LibraryCall::Gemm(g) => &g.name,
            LibraryCall::Conv(c) => &c.name,
            LibraryCall::Index(c) => &c.name,
            LibraryCall::PoolIndices(c) => &c.name,
            LibraryCall::ConvGrad(c) => &c.conv.name,
            LibraryCall::PoolBackward(p) => &p.name,
        }
    }
    /// The buffers the call reads.
    pub fn reads(&self) -> Vec<BufId> {
        match self {
            LibraryCall::Gemm(g) if g.beta != 0.0 => vec![g.a.buf, g.b.buf, g.c.buf],
            LibraryCall::Gemm(g) => vec![g.a.buf, g.b.buf],
            LibraryCall::Conv(c) => vec![c.x, c.w],
            LibraryCall::Index(c) => c.reads(),
            LibraryCall::PoolIndices(c) => vec![c.x],
            LibraryCall::ConvGrad(c) => c.reads(),
            LibraryCall::PoolBackward(p) => [Some(p.grad_output), p.input]
                .into_iter()
                .flatten()
                .collect(),
        }
    }
    /// The buffer the call writes.
    pub fn writes(&self) -> BufId {
        match self {
            LibraryCall::Gemm(g) => g.c.buf,
            LibraryCall::Conv(c) => c.out,
            LibraryCall::Index(c) => c.out,
            LibraryCall::PoolIndices(c) => c.out,
            LibraryCall::ConvGrad(c) => c.writes(),
            LibraryCall::PoolBackward(p) => p.out,
        }
    }
    /// The dtype the call expects of each buffer it reads or writes.
    pub fn buffer_dtypes(&self) -> Vec<(BufId, DType)> {
        let dtype = match self {
            LibraryCall::Gemm(g) => g.dtype,
            LibraryCall::Conv(c) => c.dtype,
            LibraryCall::ConvGrad(c) => c.conv.dtype,
            LibraryCall::PoolBackward(p) => p.dtype,
            LibraryCall::Index(c) => return c.buffer_dtypes(),
            LibraryCall::PoolIndices(c) => return vec![(c.x, c.dtype), (c.out, DType::I64)],
        };
        let mut bufs = self.reads();
        bufs.push(self.writes());
        bufs.into_iter().map(|b| (b, dtype)).collect()
    }
}

impl Program {
    /// The library calls of the program, in launch order.
    pub fn library_calls(&self) -> impl Iterator<Item = &LibraryCall> {
        self.steps.iter().filter_map(|s| match s {
            Step::Library(call) => Some(&**call),
            Step::Kernel(_) => None,
        })
    }
}

impl Kernel {
    /// Every buffer the kernel reads.
    pub fn loads(&self) -> impl Iterator<Item = (BufId, &Expr)> {
        let red = self.reduce.iter().flat_map(|r| r.body.iter());
        red.chain(self.body.iter()).filter_map(|i| match &i.op {
            ScalarOp::Load { buf, offset } => Some((*buf, offset)),
            _ => None,
        })
    }
}
