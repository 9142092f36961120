//! Linear algebra: `matmul` (with `torch.matmul`'s 1-D cases), `mm`, `bmm`, `linear` and
//! `addmm`, over the one primitive [`Op::MatMul`] (operands of rank >= 2, broadcast batch
//! dims). A 1-D operand is unsqueezed to a matrix and the added dim removed from the result,
//! as PyTorch does; a transposed weight stays a `transpose` node, which the lowering reads in
//! place through the GEMM's strides.
use super::known_rank;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, Operand};

fn invalid(name: &str, op: &str, msg: String) -> IrError {
    IrError::Invalid {
        node: name.to_string(),
        op: op.to_string(),
        msg,
    }
}

fn part(g: &mut Graph, name: &str, op: Op) -> Result<NodeId, IrError> {
    let fresh = g.fresh_name(&format!("{name}_part"));
    g.add_op(&fresh, op)
}

/// `torch.matmul(input, other)`: dot product (1-D x 1-D, a 0-d result), matrix-vector,
/// vector-matrix, matrix-matrix and batched with broadcast batch dims.
pub fn matmul(g: &mut Graph, name: &str, a: NodeId, b: NodeId) -> Result<NodeId, IrError> {
    let (_, ra) = known_rank(g, name, "matmul", a)?;
    let (_, rb) = known_rank(g, name, "matmul", b)?;
    if ra == 0 || rb == 0 {
        return Err(invalid(
            name,
            "matmul",
            format!(
                "both arguments to matmul need to be at least 1D, but they are {ra}D and {rb}D"
            ),
        ));
    }
    if ra >= 2 && rb >= 2 {
        return g.add_op(name, Op::MatMul { a, b });
    }
    // A 1-D `a` is a 1 x k row, a 1-D `b` a k x 1 column; the dims they add are squeezed.
    let a2 = if ra == 1 {
        part(g, name, Op::Unsqueeze { x: a, dim: 0 })?
    } else {
        a
    };
    let b2 = if rb == 1 {
        part(g, name, Op::Unsqueeze { x: b, dim: 1 })?
    } else {
        b
    };
    let product = part(g, name, Op::MatMul { a: a2, b: b2 })?;
    // Removed with ops whose result rank is known without sizes (a squeeze's is not), so a
    // gradient or any rank-dependent op after a 1-D matmul builds: the [1, 1] of two vectors
    // is reshaped to a 0-d value, a [.., 1, n] or [.., m, 1] flattens its last two dims.
    let op = if (ra, rb) == (1, 1) {
        Op::Reshape {
            x: product,
            shape: Vec::new(),
        }
    } else {
        Op::Flatten {
            x: product,
            start_dim: -2,
            end_dim: -1,
        }
    };
    g.add_op(name, op)
}

/// Fails unless `id` has rank `want`, with PyTorch's wording for `op`'s argument `what`.
fn require_rank(
    g: &Graph,
    name: &str,
    op: &str,
    id: NodeId,
    want: usize,
    what: &str,
) -> Result<(), IrError> {
    let (_, rank) = known_rank(g, name, op, id)?;
    if rank == want {
        return Ok(());
    }
    Err(invalid(
        name,
        op,
        match want {
            2 => format!("{what} must be a matrix, got {rank}-D tensor"),
            _ => format!("{what} must be a {want}D tensor, got {rank}-D tensor"),
        },
    ))
}

/// `torch.mm(input, mat2)`: both operands exactly 2-D.
pub fn mm(g: &mut Graph, name: &str, a: NodeId, b: NodeId) -> Result<NodeId, IrError> {
    require_rank(g, name, "mm", a, 2, "self")?;
    require_rank(g, name, "mm", b, 2, "mat2")?;
    g.add_op(name, Op::MatMul { a, b })
}

/// `torch.bmm(input, mat2)`: both operands exactly 3-D. (PyTorch also requires equal batch
/// sizes; kiln's primitive broadcasts a batch of 1.)
pub fn bmm(g: &mut Graph, name: &str, a: NodeId, b: NodeId) -> Result<NodeId, IrError> {
    require_rank(g, name, "bmm", a, 3, "batch1")?;
    require_rank(g, name, "bmm", b, 3, "batch2")?;
    g.add_op(name, Op::MatMul { a, b })
}

/// `torch.nn.functional.linear(input, weight, bias=None)`: `input @ weight.T + bias`, with
/// `weight` `[out_features, in_features]` (or 1-D `[in_features]`, a dot per row).
pub fn linear(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    w: NodeId,
    bias: Option<NodeId>,
) -> Result<NodeId, IrError> {
    let (_, rw) = known_rank(g, name, "linear", w)?;
    let wt = match rw {
        1 => w,
        2 => part(
            g,
            name,
            Op::Transpose {
                x: w,
                dim0: 0,
                dim1: 1,
            },
        )?,
        r => {
            return Err(invalid(
                name,
                "linear",
                format!("weight must be 1-D or 2-D, got {r}-D tensor"),
            ));
        }
    };
    let Some(bias) = bias else {
        return matmul(g, name, x, wt);
    };
    let part_name = g.fresh_name(&format!("{name}_part"));
    let product = matmul(g, &part_name, x, wt)?;
    g.add_op(
        name,
        Op::Binary {
            op: BinaryOp::Add,
            a: Operand::Value(product),
            b: Operand::Value(bias),
        },
    )
}

/// `torch.addmm(input, mat1, mat2, *, beta=1, alpha=1)`: `beta * input + alpha * (mat1 @
/// mat2)`, where `input` broadcasts to the product's shape; with `beta == 0` `input` is not
/// read (its NaNs do not propagate), as in PyTorch.
pub fn addmm(
    g: &mut Graph,
    name: &str,
    input: NodeId,
    mat1: NodeId,
    mat2: NodeId,
    beta: f64,
    alpha: f64,
) -> Result<NodeId, IrError> {
    let (info, rank) = known_rank(g, name, "addmm", input)?;
    let (mat, _) = known_rank(g, name, "addmm", mat2)?;
    if info.dtype != mat.dtype {
        return Err(invalid(
            name,
            "addmm",
            format!(
                "self and mat2 must have the same dtype, but got {} and {}",
                info.dtype, mat.dtype
            ),
        ));
    }
    if rank > 2 {
        return Err(invalid(
            name,
            "addmm",
            format!("input must broadcast to the 2-D product, got {rank}-D tensor"),
        ));
    }
    let part_name = g.fresh_name(&format!("{name}_part"));
    let product = mm(g, &part_name, mat1, mat2)?;
    let scaled = |g: &mut Graph, x: NodeId, s: f64, last: bool| -> Result<NodeId, IrError> {
        let op = Op::Binary {
            op: BinaryOp::Mul,
            a: Operand::Value(x),
            b: Operand::Scalar(s),
        };
        if last {
            g.add_op(name, op)
        } else {
            part(g, name, op)
        }
    };
    if beta == 0.0 {
        return scaled(g, product, alpha, true);
    }
    let product = if alpha == 1.0 {
        product
    } else {
        scaled(g, product, alpha, false)?
    };
    let input = if beta == 1.0 {
        input
    } else {
        scaled(g, input, beta, false)?
    };
    g.add_op(
        name,
        Op::Binary {
            op: BinaryOp::Add,
            a: Operand::Value(input),
            b: Operand::Value(product),
        },
    )
}
