//! The op table of the text format: each op's PyTorch name, its parameters, and how bound
//! arguments become an [`Op`].
use super::bind::{Bound, Signature};
use super::lexer::parse_error;
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::{BinaryOp, Op, Operand, Pool2d, ReduceOp, UnaryOp};

pub(crate) mod gather;
pub(crate) mod grad;
pub(crate) mod movement;
pub(crate) mod pool_grad;

/// Ops grouped by how their arguments are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum OpForm {
    Unary(UnaryOp),
    Gelu,
    Binary(BinaryOp),
    Where,
    Cast,
    Reduce(ReduceOp),
    Softmax,
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    Reshape,
    Permute,
    Transpose,
    Unsqueeze,
    Squeeze,
    Expand,
    Conv,
    ConvTranspose2d,
    /// `convolution_backward_input` (`true`) or `_weight` (`text/conv_grad.rs`).
    ConvGrad(bool),
    Flatten,
    Unflatten,
    /// Data movement (`text/ops/movement.rs`).
    Movement(movement::Form),
    /// The gradient family (`text/ops/grad.rs`).
    Grad(grad::Form),
    /// `argmax` (`true`) or `argmin`.
    ArgExtreme(bool),
    CumSum,
    /// The pool backward family (`text/ops/pool_grad.rs`).
    PoolGrad(pool_grad::Form),
    /// The gather ops (`text/ops/gather.rs`).
    Gather(gather::Form),
}

const REDUCE_OPS: [ReduceOp; 4] = [
    ReduceOp::Sum,
    ReduceOp::Mean,
    ReduceOp::Amax,
    ReduceOp::Amin,
];

impl OpForm {
    /// Looks an op up by its text name.
    pub(crate) fn by_name(name: &str) -> Option<OpForm> {
        if name == "gelu" {
            return Some(OpForm::Gelu);
        }
        if let Some(op) = UnaryOp::ALL.into_iter().find(|u| u.name() == name) {
            return Some(OpForm::Unary(op));
        }
        if let Some(op) = BinaryOp::ALL.into_iter().find(|b| b.name() == name) {
            return Some(OpForm::Binary(op));
        }
        if let Some(op) = REDUCE_OPS.into_iter().find(|r| r.name() == name) {
            return Some(OpForm::Reduce(op));
        }
        if let Some(form) = movement::Form::by_name(name) {
            return Some(OpForm::Movement(form));
        }
        if let Some(form) = gather::Form::by_name(name) {
            return Some(OpForm::Gather(form));
        }
        if let Some(form) = grad::Form::by_name(name) {
            return Some(OpForm::Grad(form));
        }
        if let Some(form) = pool_grad::Form::by_name(name) {
            return Some(OpForm::PoolGrad(form));
        }
        Some(match name {
            "where" => OpForm::Where,
            "to" => OpForm::Cast,
            "softmax" => OpForm::Softmax,
            "max_pool2d" => OpForm::MaxPool2d,
            "avg_pool2d" => OpForm::AvgPool2d,
            "adaptive_avg_pool2d" => OpForm::AdaptiveAvgPool2d,
            "adaptive_max_pool2d" => OpForm::AdaptiveMaxPool2d,
            "reshape" => OpForm::Reshape,
            "permute" => OpForm::Permute,
            "transpose" => OpForm::Transpose,
            "unsqueeze" => OpForm::Unsqueeze,
            "squeeze" => OpForm::Squeeze,
            "expand" => OpForm::Expand,
            "convolution" => OpForm::Conv,
            "convolution_transpose2d" => OpForm::ConvTranspose2d,
            "convolution_backward_input" => OpForm::ConvGrad(true),
            "convolution_backward_weight" => OpForm::ConvGrad(false),
            "flatten" => OpForm::Flatten,
            "unflatten" => OpForm::Unflatten,
            "argmax" => OpForm::ArgExtreme(true),
            "argmin" => OpForm::ArgExtreme(false),
            "cumsum" => OpForm::CumSum,
            _ => return None,
        })
    }

    pub(crate) fn signature(self) -> Signature {
        let sig = |params: &'static [&'static str], required| Signature { params, required };
        match self {
            OpForm::Unary(_) => sig(&["input"], 1),
            OpForm::Gelu => sig(&["input", "approximate"], 1),
            OpForm::Binary(BinaryOp::Pow) => sig(&["input", "exponent"], 2),
            OpForm::Binary(_) => sig(&["input", "other"], 2),
            OpForm::Where => sig(&["condition", "input", "other"], 3),
            OpForm::Cast => sig(&["input", "dtype"], 2),
            OpForm::Reduce(_) => sig(&["input", "dim", "keepdim"], 1),
            OpForm::Softmax => sig(&["input", "dim"], 2),
            OpForm::MaxPool2d => sig(
                &[
                    "input",
                    "kernel_size",
                    "stride",
                    "padding",
                    "dilation",
                    "ceil_mode",
                ],
                2,
            ),
            OpForm::AvgPool2d => sig(
                &[
                    "input",
                    "kernel_size",
                    "stride",
                    "padding",
                    "ceil_mode",
                    "count_include_pad",
                    "divisor_override",
                ],
                2,
            ),
            OpForm::AdaptiveAvgPool2d | OpForm::AdaptiveMaxPool2d => {
                sig(&["input", "output_size"], 2)
            }
            OpForm::Reshape => sig(&["input", "shape"], 2),
            OpForm::Permute => sig(&["input", "dims"], 2),
            OpForm::Transpose => sig(&["input", "dim0", "dim1"], 3),
            OpForm::Unsqueeze => sig(&["input", "dim"], 2),
            OpForm::Squeeze => sig(&["input", "dim"], 1),
            OpForm::Expand => sig(&["input", "size"], 2),
            OpForm::Conv => super::conv::CONV_SIGNATURE,
            OpForm::ConvTranspose2d => super::conv::CONV_TRANSPOSE_SIGNATURE,
            OpForm::ConvGrad(wrt_input) => super::conv_grad::signature(wrt_input),
            OpForm::Flatten => sig(&["input", "start_dim", "end_dim"], 1),
            OpForm::Unflatten => sig(&["input", "dim", "sizes"], 3),
            OpForm::Movement(form) => form.signature(),
            OpForm::Grad(form) => form.signature(),
            OpForm::ArgExtreme(_) => sig(&["input", "dim", "keepdim"], 1),
            OpForm::CumSum => sig(&["input", "dim"], 2),
            OpForm::PoolGrad(form) => form.signature(),
            OpForm::Gather(form) => form.signature(),
        }
    }

    /// Builds the op from arguments bound to [`OpForm::signature`].
    pub(crate) fn build(self, b: &Bound, g: &Graph) -> Result<Op, IrError> {
        let x = || b.value(g, "input");
        Ok(match self {
            OpForm::Unary(op) => Op::Unary { op, x: x()? },
            OpForm::Gelu => {
                let op = match b.string_or("approximate", "none")? {
                    "none" => UnaryOp::Gelu,
                    "tanh" => UnaryOp::GeluTanh,
                    other => {
                        let msg = format!("must be \"none\" or \"tanh\", found \"{other}\"");
                        return Err(b.invalid("approximate", &msg));
                    }
                };
                Op::Unary { op, x: x()? }
            }
            OpForm::Binary(op) => {
                let second = if op == BinaryOp::Pow {
                    "exponent"
                } else {
                    "other"
                };
                let (a, c) = (b.operand(g, "input")?, b.operand(g, second)?);
                need_a_tensor(b, &[a, c])?;
                Op::Binary { op, a, b: c }
            }
            OpForm::Where => {
                let cond = b.operand(g, "condition")?;
                let (a, c) = (b.operand(g, "input")?, b.operand(g, "other")?);
                need_a_tensor(b, &[cond, a, c])?;
                Op::Where { cond, a, b: c }
            }
            OpForm::Cast => Op::Cast {
                x: x()?,
                dtype: b.dtype("dtype")?,
            },
            OpForm::Reduce(op) => Op::Reduce {
                op,
                x: x()?,
                dims: b.reduce_dims("dim")?,
                keepdim: b.bool_or("keepdim", false)?,
            },
            OpForm::Softmax => Op::Softmax {
                x: x()?,
                dim: b.int("dim")?,
            },
            OpForm::MaxPool2d => Op::MaxPool2d {
                x: x()?,
                params: pool_params(b, true)?,
            },
            OpForm::AvgPool2d => Op::AvgPool2d {
                x: x()?,
                params: pool_params(b, false)?,
            },
            OpForm::AdaptiveAvgPool2d => Op::AdaptiveAvgPool2d {
                x: x()?,
                output_size: b.pair("output_size")?,
            },
            OpForm::AdaptiveMaxPool2d => Op::AdaptiveMaxPool2d {
                x: x()?,
                output_size: b.pair("output_size")?,
            },
            OpForm::Reshape => Op::Reshape {
                x: x()?,
                shape: b.sizes("shape")?,
            },
            OpForm::Permute => Op::Permute {
                x: x()?,
                dims: b.int_list("dims")?,
            },
            OpForm::Transpose => Op::Transpose {
                x: x()?,
                dim0: b.int("dim0")?,
                dim1: b.int("dim1")?,
            },
            OpForm::Unsqueeze => Op::Unsqueeze {
                x: x()?,
                dim: b.int("dim")?,
            },
            OpForm::Squeeze => Op::Squeeze {
                x: x()?,
                dims: b.opt_dims("dim")?,
            },
            OpForm::Expand => Op::Expand {
                x: x()?,
                shape: b.sizes("size")?,
            },
            OpForm::Conv => super::conv::build_conv(b, g)?,
            OpForm::ConvTranspose2d => super::conv::build_conv_transpose(b, g)?,
            OpForm::ConvGrad(wrt_input) => super::conv_grad::build(b, g, wrt_input)?,
            OpForm::Flatten => Op::Flatten {
                x: x()?,
                start_dim: b.opt_int("start_dim")?.unwrap_or(0),
                end_dim: b.opt_int("end_dim")?.unwrap_or(-1),
            },
            OpForm::Unflatten => Op::Unflatten {
                x: x()?,
                dim: b.int("dim")?,
                sizes: b.sizes("sizes")?,
            },
            OpForm::Movement(form) => form.build(b, g)?,
            OpForm::Gather(form) => form.build(b, g)?,
            OpForm::Grad(form) => form.build(b, g)?,
            OpForm::PoolGrad(form) => form.build(b, g)?,
            OpForm::ArgExtreme(largest) => {
                let (x, dim, keepdim) = (x()?, b.opt_int("dim")?, b.bool_or("keepdim", false)?);
                if largest {
                    Op::ArgMax { x, dim, keepdim }
                } else {
                    Op::ArgMin { x, dim, keepdim }
                }
            }
            OpForm::CumSum => Op::CumSum {
                x: x()?,
                dim: b.int("dim")?,
            },
        })
    }
}

/// Elementwise ops need a tensor to take their shape from: not every operand may be a scalar.
fn need_a_tensor(b: &Bound, operands: &[Operand]) -> Result<(), IrError> {
    if operands.iter().any(|o| matches!(o, Operand::Value(_))) {
        Ok(())
    } else {
        Err(parse_error(
            b.site.line,
            b.site.col,
            format!(
                "node '{}' ({}): at least one operand must be a value, not a number",
                b.site.node, b.site.op
            ),
        ))
    }
}

/// `max_pool2d`/`avg_pool2d` parameters with PyTorch's defaults: stride = kernel_size,
/// padding 0, dilation 1 (always 1 for avg), ceil_mode false, count_include_pad true (which
/// max pooling ignores; it is fixed so that equal ops compare equal).
pub(super) fn pool_params(b: &Bound, is_max: bool) -> Result<Pool2d, IrError> {
    let kernel_size = b.pair("kernel_size")?;
    Ok(Pool2d {
        kernel_size,
        stride: b.opt_pair("stride")?.unwrap_or(kernel_size),
        padding: b.opt_pair("padding")?.unwrap_or([0, 0]),
        dilation: if is_max {
            b.opt_pair("dilation")?.unwrap_or([1, 1])
        } else {
            [1, 1]
        },
        ceil_mode: b.bool_or("ceil_mode", false)?,
        count_include_pad: if is_max {
            true
        } else {
            b.bool_or("count_include_pad", true)?
        },
        divisor_override: if is_max {
            None
        } else {
            b.opt_int("divisor_override")?
        },
    })
}
