//! The text forms of the pool backward family, with the signatures of PyTorch's ATen ops
//! (`aten::max_pool2d_with_indices_backward` without its `indices`, which kiln recomputes from
//! `input`; `aten::avg_pool2d_backward`; `aten::_adaptive_{avg,max}_pool2d_backward`) and the
//! forward ops' defaults.
use super::super::bind::{Bound, Signature};
use super::pool_params;
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::Op;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Form {
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
}

impl Form {
    pub(crate) fn by_name(name: &str) -> Option<Form> {
        Some(match name {
            "max_pool2d_backward" => Form::MaxPool2d,
            "avg_pool2d_backward" => Form::AvgPool2d,
            "adaptive_avg_pool2d_backward" => Form::AdaptiveAvgPool2d,
            "adaptive_max_pool2d_backward" => Form::AdaptiveMaxPool2d,
            _ => return None,
        })
    }

    pub(crate) fn signature(self) -> Signature {
        let sig = |params: &'static [&'static str], required| Signature { params, required };
        match self {
            Form::MaxPool2d => sig(
                &[
                    "grad_output",
                    "input",
                    "kernel_size",
                    "stride",
                    "padding",
                    "dilation",
                    "ceil_mode",
                ],
                3,
            ),
            Form::AvgPool2d => sig(
                &[
                    "grad_output",
                    "input",
                    "kernel_size",
                    "stride",
                    "padding",
                    "ceil_mode",
                    "count_include_pad",
                    "divisor_override",
                ],
                3,
            ),
            Form::AdaptiveAvgPool2d | Form::AdaptiveMaxPool2d => sig(&["grad_output", "input"], 2),
        }
    }

    pub(crate) fn build(self, b: &Bound, g: &Graph) -> Result<Op, IrError> {
        let grad_output = b.value(g, "grad_output")?;
        let input = b.value(g, "input")?;
        Ok(match self {
            Form::MaxPool2d => Op::MaxPool2dBackward {
                grad_output,
                input,
                params: pool_params(b, true)?,
            },
            Form::AvgPool2d => Op::AvgPool2dBackward {
                grad_output,
                input,
                params: pool_params(b, false)?,
            },
            Form::AdaptiveAvgPool2d => Op::AdaptiveAvgPool2dBackward { grad_output, input },
            Form::AdaptiveMaxPool2d => Op::AdaptiveMaxPool2dBackward { grad_output, input },
        })
    }
}
