//! `conv1d`, `conv2d` and `conv_transpose2d` as PyTorch defines them: an `Op::Conv` /
//! `Op::ConvTranspose2d` without bias, plus the bias as a broadcast add, and unbatched inputs
//! (`(C, *spatial)`) run as a batch of one.
//!
//! PyTorch's argument forms are resolved here: an int stride/padding/dilation for every dim,
//! `padding="same"` (the kernel's dilated extent split before/after, the odd element after, as
//! PyTorch pads even kernels) and `"valid"` (no padding).
use kiln_shape::Dim;

use super::known_rank;
use crate::error::IrError;
use crate::graph::{Graph, NodeId, NodeKind};
use crate::op::{BinaryOp, ConvParams, ConvTransposeParams, Op, Operand};

/// `padding` of `conv1d` / `conv2d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvPadding {
    /// One int for every dim, or one per spatial dim, on both sides.
    Explicit(Vec<i64>),
    /// Output size = input size (stride 1 only).
    Same,
    /// No padding.
    Valid,
}

/// The arguments of `conv1d` / `conv2d` after `input, weight, bias`, as PyTorch takes them:
/// each list has one entry (for every spatial dim) or one per spatial dim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvArgs {
    pub stride: Vec<i64>,
    pub padding: ConvPadding,
    pub dilation: Vec<i64>,
    pub groups: i64,
}

impl Default for ConvArgs {
    /// PyTorch's defaults: `stride=1, padding=0, dilation=1, groups=1`.
    fn default() -> Self {
        ConvArgs {
            stride: vec![1],
            padding: ConvPadding::Explicit(vec![0]),
            dilation: vec![1],
            groups: 1,
        }
    }
}

fn invalid(name: &str, op: &str, msg: String) -> IrError {
    IrError::Invalid {
        node: name.to_string(),
        op: op.to_string(),
        msg,
    }
}

/// `values` expanded to `spatial` entries (PyTorch's `_single` / `_pair`).
fn expand(
    name: &str,
    op: &str,
    what: &str,
    values: &[i64],
    spatial: usize,
) -> Result<Vec<i64>, IrError> {
    match values.len() {
        1 => Ok(vec![values[0]; spatial]),
        n if n == spatial => Ok(values.to_vec()),
        n => Err(invalid(
            name,
            op,
            format!("{what} must have 1 or {spatial} entries, found {n}"),
        )),
    }
}

/// The weight's kernel sizes when they are known without sizes (a constant, or an input
/// declared with fixed dims): `padding="same"` needs them to choose the padding.
fn static_kernel(g: &Graph, w: NodeId, spatial: usize) -> Option<Vec<i64>> {
    let dims: Vec<Option<i64>> = match &g.node(w).kind {
        NodeKind::Constant(t) => t.shape.iter().map(|&d| i64::try_from(d).ok()).collect(),
        NodeKind::Input(i) => g.inputs()[*i]
            .dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => Some(*v),
                Dim::Sym(_) => None,
            })
            .collect(),
        NodeKind::Op(_) => return None,
    };
    dims.get(dims.len().checked_sub(spatial)?..)?
        .iter()
        .copied()
        .collect()
}

/// Per-side padding of a `conv1d` / `conv2d` call.
fn resolve_padding(
    g: &Graph,
    name: &str,
    op: &str,
    weight: NodeId,
    args: &ConvArgs,
    spatial: usize,
    dilation: &[i64],
) -> Result<Vec<[i64; 2]>, IrError> {
    match &args.padding {
        ConvPadding::Explicit(p) => Ok(expand(name, op, "padding", p, spatial)?
            .into_iter()
            .map(|v| [v, v])
            .collect()),
        ConvPadding::Valid => Ok(vec![[0, 0]; spatial]),
        ConvPadding::Same => {
            if args.stride.iter().any(|&s| s != 1) {
                return Err(invalid(
                    name,
                    op,
                    "padding='same' is not supported for strided convolutions".into(),
                ));
            }
            let kernel = static_kernel(g, weight, spatial).ok_or_else(|| {
                invalid(
                    name,
                    op,
                    "padding='same' needs the weight's kernel size before sizes are known (a \
                     constant or an input with fixed dims)"
                        .into(),
                )
            })?;
            kernel
                .iter()
                .zip(dilation)
                .map(|(&k, &d)| {
                    let total = k.checked_sub(1).and_then(|k1| k1.checked_mul(d));
                    let total = total.filter(|&t| t >= 0).ok_or_else(|| {
                        invalid(name, op, format!("kernel size {k} with dilation {d}"))
                    })?;
                    Ok([total / 2, total - total / 2])
                })
                .collect()
        }
    }
}

/// Adds `bias` (shape `(C_out,)`) along dim 1 of `y` (rank `rank`), under `name`.
fn add_bias(
    g: &mut Graph,
    name: &str,
    op: &str,
    y: NodeId,
    bias: NodeId,
    rank: usize,
) -> Result<NodeId, IrError> {
    let (_, bias_rank) = known_rank(g, name, op, bias)?;
    if bias_rank != 1 {
        return Err(invalid(
            name,
            op,
            format!("bias must be 1-d (C_out,), found rank {bias_rank}"),
        ));
    }
    let shape = std::iter::once(Dim::Fixed(-1))
        .chain(std::iter::repeat_n(Dim::Fixed(1), rank - 2))
        .collect();
    let col = g.add_op(
        &g.fresh_name(&format!("{name}_bias")),
        Op::Reshape { x: bias, shape },
    )?;
    let op = Op::Binary {
        op: BinaryOp::Add,
        a: Operand::Value(y),
        b: Operand::Value(col),
    };
    g.add_op(name, op)
}

/// Runs `make(g, batched_input, result_name)` on a batched input, adds the bias, and removes
/// the batch dim again for an unbatched one: the shared tail of every convolution.
fn with_batch_and_bias(
    g: &mut Graph,
    name: &str,
    op: &str,
    input: NodeId,
    bias: Option<NodeId>,
    spatial: usize,
    make: impl FnOnce(NodeId) -> Op,
) -> Result<NodeId, IrError> {
    let (_, rank) = known_rank(g, name, op, input)?;
    let batched = rank == spatial + 2;
    if !batched && rank != spatial + 1 {
        return Err(invalid(
            name,
            op,
            format!(
                "expected a {}-d (unbatched) or {}-d (batched) input, found rank {rank}",
                spatial + 1,
                spatial + 2
            ),
        ));
    }
    let x = if batched {
        input
    } else {
        g.add_op(
            &g.fresh_name(&format!("{name}_batched")),
            Op::Unsqueeze { x: input, dim: 0 },
        )?
    };
    let last = batched && bias.is_none();
    let conv_name = if last {
        name.to_string()
    } else {
        g.fresh_name(&format!("{name}_conv"))
    };
    let mut y = g.add_op(&conv_name, make(x))?;
    if let Some(b) = bias {
        let bias_name = if batched {
            name.to_string()
        } else {
            g.fresh_name(&format!("{name}_biased"))
        };
        y = add_bias(g, &bias_name, op, y, b, spatial + 2)?;
    }
    if !batched {
        y = g.add_op(
            name,
            Op::Squeeze {
                x: y,
                dims: Some(vec![0]),
            },
        )?;
    }
    Ok(y)
}

fn conv_nd(
    g: &mut Graph,
    name: &str,
    spatial: usize,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
    args: &ConvArgs,
) -> Result<NodeId, IrError> {
    let op = if spatial == 1 { "conv1d" } else { "conv2d" };
    let stride = expand(name, op, "stride", &args.stride, spatial)?;
    let dilation = expand(name, op, "dilation", &args.dilation, spatial)?;
    let padding = resolve_padding(g, name, op, weight, args, spatial, &dilation)?;
    let params = ConvParams {
        stride,
        padding,
        dilation,
        groups: args.groups,
    };
    with_batch_and_bias(g, name, op, input, bias, spatial, |x| Op::Conv {
        x,
        w: weight,
        params,
    })
}

/// `torch.nn.functional.conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1,
/// groups=1)`: input `(N, C_in, L)` or `(C_in, L)`, weight `(C_out, C_in / groups, k)`.
pub fn conv1d(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
    args: &ConvArgs,
) -> Result<NodeId, IrError> {
    conv_nd(g, name, 1, input, weight, bias, args)
}

/// `torch.nn.functional.conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1,
/// groups=1)`: input `(N, C_in, H, W)` or `(C_in, H, W)`, weight `(C_out, C_in / groups, kH,
/// kW)`.
pub fn conv2d(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
    args: &ConvArgs,
) -> Result<NodeId, IrError> {
    conv_nd(g, name, 2, input, weight, bias, args)
}

/// `torch.nn.functional.conv_transpose2d(input, weight, bias=None, stride=1, padding=0,
/// output_padding=0, groups=1, dilation=1)`: weight `(C_in, C_out / groups, kH, kW)`.
pub fn conv_transpose2d(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
    params: ConvTransposeParams,
) -> Result<NodeId, IrError> {
    let op = "conv_transpose2d";
    with_batch_and_bias(g, name, op, input, bias, 2, |x| Op::ConvTranspose2d {
        x,
        w: weight,
        params,
    })
}

impl Default for ConvTransposeParams {
    /// PyTorch's defaults: `stride=1, padding=0, output_padding=0, groups=1, dilation=1`.
    fn default() -> Self {
        ConvTransposeParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}
