//! The op set, with PyTorch's names and semantics.
use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::graph::NodeId;
use kiln_shape::Dim;

mod movement;
mod walk;
pub use movement::{PadMode, SliceBounds, Split};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Silu,
    /// `gelu(x, approximate="none")`: `x * Phi(x)` with the exact erf.
    Gelu,
    /// `gelu(x, approximate="tanh")`.
    GeluTanh,
    Floor,
    Ceil,
    LogicalNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReduceOp {
    Sum,
    Mean,
    Amax,
    Amin,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 18] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Reciprocal,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Silu,
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::LogicalNot,
    ];
    /// The op's name in the text format (`GeluTanh` is `gelu` with `approximate="tanh"`).
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Exp => "exp",
            Log => "log",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Reciprocal => "reciprocal",
            Sin => "sin",
            Cos => "cos",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Silu => "silu",
            Gelu | GeluTanh => "gelu",
            Floor => "floor",
            Ceil => "ceil",
            LogicalNot => "logical_not",
        }
    }
    /// The output dtype for an input of dtype `x`: bool for `logical_not`, the input's dtype
    /// otherwise (a bool input to float math is promoted to f32, as torch does).
    pub fn result_dtype(self, x: DType) -> DType {
        match self {
            UnaryOp::LogicalNot => DType::Bool,
            _ if x.is_int() && self.keeps_int() => x,
            _ => DType::promote_scalar(x),
        }
    }
    /// The ops whose integer kernels keep an integer input's dtype (`abs(i64) -> i64`), where
    /// float math (`exp`, `sqrt`, ...) promotes an integer to f32, as torch does.
    pub fn keeps_int(self) -> bool {
        use UnaryOp::*;
        matches!(self, Neg | Abs | Relu | Floor | Ceil)
    }
    /// Whether PyTorch refuses an integer input (`silu` and `gelu` have no integer kernel).
    pub fn rejects_int(self) -> bool {
        use UnaryOp::*;
        matches!(self, Silu | Gelu | GeluTanh)
    }
    /// Whether PyTorch refuses a bool input: the ops whose kernels keep the input's dtype
    /// (`neg`, `abs`, `relu`, `floor`, `ceil`) or have no bool kernel (`gelu`, `silu`), where
    /// float math (`exp`, `sin`, ...) promotes a bool to f32.
    pub fn rejects_bool(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Neg | Abs | Relu | Silu | Gelu | GeluTanh | Floor | Ceil
        )
    }
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 15] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::Pow,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::LogicalAnd,
        BinaryOp::LogicalOr,
    ];
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Maximum => "maximum",
            Minimum => "minimum",
            Pow => "pow",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
        }
    }
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr)
    }
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Amax => "amax",
            ReduceOp::Amin => "amin",
        }
    }
}

/// An operand of an elementwise op: a value of the graph, or a Python-style scalar literal
/// (which never changes a tensor's dtype).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    Value(NodeId),
    Scalar(f64),
}

/// Parameters of `max_pool2d` / `avg_pool2d`, already expanded to (h, w) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pool2d {
    pub kernel_size: [i64; 2],
    pub stride: [i64; 2],
    pub padding: [i64; 2],
    /// Always `[1, 1]` for `avg_pool2d`, which has no dilation.
    pub dilation: [i64; 2],
    pub ceil_mode: bool,
    /// Only meaningful for `avg_pool2d`.
    pub count_include_pad: bool,
    /// `avg_pool2d`'s `divisor_override`: every window's sum is divided by this (nonzero)
    /// instead of its size; always `None` for `max_pool2d`.
    pub divisor_override: Option<i64>,
}

/// Parameters of a convolution (`Op::Conv`), one entry per spatial dim (1 or 2 of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvParams {
    pub stride: Vec<i64>,
    /// Zero padding `[before, after]` of each spatial dim: PyTorch's `padding="same"` pads an
    /// even kernel's extra element after.
    pub padding: Vec<[i64; 2]>,
    pub dilation: Vec<i64>,
    pub groups: i64,
}

/// Parameters of `conv_transpose2d` (`Op::ConvTranspose2d`), as (h, w) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvTransposeParams {
    pub stride: [i64; 2],
    pub padding: [i64; 2],
    pub output_padding: [i64; 2],
    pub dilation: [i64; 2],
    pub groups: i64,
}

/// One operation. Operands refer to earlier nodes of the same graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Unary {
        op: UnaryOp,
        x: NodeId,
    },
    Binary {
        op: BinaryOp,
        a: Operand,
        b: Operand,
    },
    Where {
        cond: Operand,
        a: Operand,
        b: Operand,
    },
    /// `to(x, dtype=...)`.
    Cast {
        x: NodeId,
        dtype: DType,
    },
    /// `sum/mean/amax/amin(x, dim, keepdim)`; `dims` as written (may be negative); empty means
    /// all dims (`sum(x)`).
    Reduce {
        op: ReduceOp,
        x: NodeId,
        dims: Vec<i64>,
        keepdim: bool,
    },
    Softmax {
        x: NodeId,
        dim: i64,
    },
    MaxPool2d {
        x: NodeId,
        params: Pool2d,
    },
    AvgPool2d {
        x: NodeId,
        params: Pool2d,
    },
    AdaptiveAvgPool2d {
        x: NodeId,
        output_size: [i64; 2],
    },
    AdaptiveMaxPool2d {
        x: NodeId,
        output_size: [i64; 2],
    },
    /// `reshape(x, shape)`: at most one `-1` (`Dim::Fixed(-1)`); symbols by name.
    Reshape {
        x: NodeId,
        shape: Vec<Dim>,
    },
    Permute {
        x: NodeId,
        dims: Vec<i64>,
    },
    Transpose {
        x: NodeId,
        dim0: i64,
        dim1: i64,
    },
    Unsqueeze {
        x: NodeId,
        dim: i64,
    },
    /// `squeeze(x)` (`None`: all size-1 dims), `squeeze(x, dim)` or `squeeze(x, [d0, d1])`
    /// (PyTorch >= 2.0): of the dims named, those of size 1 are removed.
    Squeeze {
        x: NodeId,
        dims: Option<Vec<i64>>,
    },
    /// `expand(x, shape)`: `-1` keeps a dim; new leading dims may be added.
    Expand {
        x: NodeId,
        shape: Vec<Dim>,
    },
    // Convolution (`crate::build::conv` adds bias and the PyTorch argument forms).
    /// A 1-d or 2-d convolution of `x` `(N, C_in, *spatial)` with `w`
    /// `(C_out, C_in / groups, *kernel)`, without bias.
    Conv {
        x: NodeId,
        w: NodeId,
        params: ConvParams,
    },
    /// A transposed 2-d convolution of `x` `(N, C_in, H, W)` with `w`
    /// `(C_in, C_out / groups, kH, kW)`, without bias.
    ConvTranspose2d {
        x: NodeId,
        w: NodeId,
        params: ConvTransposeParams,
    },
    // -- nn family (activations, normalisation, flatten): layout primitives
    // (`infer/flatten.rs`, `kiln-sched/src/lower/flatten.rs`) --
    /// `flatten(input, start_dim=0, end_dim=-1)`: dims `start_dim..=end_dim` merged into one
    /// (a 0-d input becomes `[1]`).
    Flatten {
        x: NodeId,
        start_dim: i64,
        end_dim: i64,
    },
    /// `unflatten(input, dim, sizes)`: dim `dim` split into `sizes` (at most one `-1`;
    /// symbols by name), which must multiply up to its size.
    Unflatten {
        x: NodeId,
        dim: i64,
        sizes: Vec<Dim>,
    },
    // Data movement (`op/movement.rs`).
    /// `cat(tensors, dim)`: dtypes promoted as `torch.cat` does.
    Cat {
        xs: Vec<NodeId>,
        dim: i64,
    },
    /// `slice`, `narrow` and the parts of `split`/`chunk`: a strided range of one dim.
    Slice {
        x: NodeId,
        dim: i64,
        bounds: SliceBounds,
    },
    /// `select(x, dim, index)`: the dim is removed; `index` may be negative.
    Select {
        x: NodeId,
        dim: i64,
        index: i64,
    },
    /// `pad(x, pad, mode, value)`: `pad` in PyTorch's order, last dim first (left, right).
    Pad {
        x: NodeId,
        pad: Vec<i64>,
        mode: PadMode,
        value: f64,
    },
    /// `x.repeat(repeats)`: tiles `x`; extra leading repeats add dims.
    Repeat {
        x: NodeId,
        repeats: Vec<i64>,
    },
    // Index family (`build/index.rs`, `infer/index.rs`, `interp/index.rs`,
    // kiln-sched `lower/index.rs`): ops that make or use int64 index tensors.
    /// `argmax(input, dim=None, keepdim=False)`: the i64 index of the first maximum along
    /// `dim` (a NaN is the maximum), or in the flattened input when `dim` is `None`.
    ArgMax {
        x: NodeId,
        dim: Option<i64>,
        keepdim: bool,
    },
    /// `argmin(input, dim=None, keepdim=False)`: as [`Op::ArgMax`] for the first minimum (a
    /// NaN is the minimum).
    ArgMin {
        x: NodeId,
        dim: Option<i64>,
        keepdim: bool,
    },
    /// `cumsum(input, dim)`: running sums along `dim`; bool and i64 inputs give i64, as torch.
    CumSum {
        x: NodeId,
        dim: i64,
    },
    // Linear algebra (`build::linalg` has the composites: matmul's 1-D cases, mm, linear...).
    /// `torch.matmul` of operands of rank >= 2 with broadcast batch dims.
    MatMul {
        a: NodeId,
        b: NodeId,
    },
    // Gradient family (`build/grad.rs`, `infer/grad.rs`, `interp/grad.rs`): the ops backward
    // graphs are made of whose result has another value's shape. That value (`like`) is read
    // for its shape only, never its data, so a backward graph states "the shape of x" without
    // writing sizes and stays symbolic (one backward entry serves every batch size).
    /// `sum_to(x, like)`: `x` summed over the dims in which `like`'s shape broadcasts to `x`'s
    /// (x's extra leading dims, and dims where `like` has size 1), giving `like`'s shape: the
    /// adjoint of broadcasting (`at::sum_to`).
    SumTo {
        x: NodeId,
        like: NodeId,
    },
    /// `expand_as(x, like)`: `x` broadcast to `like`'s shape (`Tensor.expand_as`).
    ExpandAs {
        x: NodeId,
        like: NodeId,
    },
    /// `reshape_as(x, like)`: `x` reshaped to `like`'s shape (`Tensor.reshape_as`).
    ReshapeAs {
        x: NodeId,
        like: NodeId,
    },
    /// `slice_scatter(input, src, dim, start, end, step)`: a copy of `input` with `src` written
    /// into the slice `bounds` of `dim` (`torch.slice_scatter`); the adjoint of a slice.
    SliceScatter {
        input: NodeId,
        src: NodeId,
        dim: i64,
        bounds: SliceBounds,
    },
    // Gather ops of the index family (`infer/index/gather.rs`, `interp/index/gather.rs`,
    // kiln-sched `lower/gather.rs`): reads and writes addressed by an i64 index tensor, run as
    // a library step that checks every index against its dim before it touches memory.
    /// `index_select(input, dim, index)`: the entries `index` (1-D or 0-d) of `dim`.
    IndexSelect {
        x: NodeId,
        dim: i64,
        index: NodeId,
    },
    /// `gather(input, dim, index)`: `out[p] = input[p with p[dim] = index[p]]`, shaped as
    /// `index` (same rank as `input`, no larger than it outside `dim`).
    Gather {
        x: NodeId,
        dim: i64,
        index: NodeId,
    },
    /// `scatter_add(input, dim, index, src)`: a copy of `input` with
    /// `out[p with p[dim] = index[p]] += src[p]` for every position `p` of `index`.
    ScatterAdd {
        x: NodeId,
        dim: i64,
        index: NodeId,
        src: NodeId,
    },
    /// `index_add(input, dim, index, source, alpha=1)`: a copy of `input` with
    /// `alpha * source` slice `k` of `dim` added into slice `index[k]`.
    IndexAdd {
        x: NodeId,
        dim: i64,
        index: NodeId,
        source: NodeId,
        alpha: f64,
    },
    /// `embedding(input, weight, padding_idx=None)`: rows `input` (any shape, int64) of the
    /// 2-D `weight`, shaped `input.shape + [weight.size(1)]`. `padding_idx` changes only the
    /// gradient (its row gets none), as in torch.
    Embedding {
        indices: NodeId,
        weight: NodeId,
        padding_idx: Option<i64>,
    },
    /// The i64 indices of `max_pool2d(x, ..., return_indices=True)`: the flat `h * W + w`
    /// position within its plane of each window's maximum (`build::index::max_pool2d_with_indices`
    /// pairs it with the values).
    MaxPool2dIndices {
        x: NodeId,
        params: Pool2d,
    },
    /// `cat_part(x, parts, dim, index)`: block `index` of `x` cut along `dim` into blocks the
    /// sizes of `parts`' dims (`parts` are read for their shapes only): the adjoint of
    /// `cat(parts, dim)`, whose block offsets may be symbolic.
    CatPart {
        x: NodeId,
        parts: Vec<NodeId>,
        dim: i64,
        index: usize,
    },
    // Conv backward family (`infer/conv_grad.rs`, `interp/conv_grad.rs`, kiln-sched
    // `lower/conv_grad.rs`): the gradients of `Op::Conv`, run as library steps.
    /// `convolution_backward_input(grad_output, weight, input_like, ...)`: the gradient of a
    /// convolution with these params w.r.t. its input, shaped as `input_like` (read for its
    /// shape only: the rows a strided convolution dropped come from it, not from sizes).
    ConvBackwardInput {
        grad_output: NodeId,
        weight: NodeId,
        input_like: NodeId,
        params: ConvParams,
    },
    /// `convolution_backward_weight(grad_output, input, weight_like, ...)`: the gradient
    /// w.r.t. the weight, shaped as `weight_like` (read for its shape only).
    ConvBackwardWeight {
        grad_output: NodeId,
        input: NodeId,
        weight_like: NodeId,
        params: ConvParams,
    },
    // Pool backward family (`infer/pool_grad.rs`, `interp/pool_grad.rs`,
    // `kiln-sched/src/lower/pool_grad.rs`): PyTorch's `*_pool2d_backward` ATen ops. `input` is
    // the forward input (its shape, and for the max variants its values, from which each
    // window's maximum is found again); the result has `input`'s shape.
    /// `max_pool2d_backward(grad_output, input, kernel_size, ...)`: each window's gradient goes
    /// to its first maximum (NaN wins), accumulated where windows overlap.
    MaxPool2dBackward {
        grad_output: NodeId,
        input: NodeId,
        params: Pool2d,
    },
    /// `avg_pool2d_backward(grad_output, input, kernel_size, ...)`: each window's gradient
    /// divided by the forward's divisor, spread over the window.
    AvgPool2dBackward {
        grad_output: NodeId,
        input: NodeId,
        params: Pool2d,
    },
    /// `adaptive_avg_pool2d_backward(grad_output, input)`; the output size is grad_output's.
    AdaptiveAvgPool2dBackward {
        grad_output: NodeId,
        input: NodeId,
    },
    /// `adaptive_max_pool2d_backward(grad_output, input)`.
    AdaptiveMaxPool2dBackward {
        grad_output: NodeId,
        input: NodeId,
    },
}
