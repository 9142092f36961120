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
    pub kernels: Vec<Kernel>,
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
