//! The text forms of the conv backward family, which the printer writes and the parser reads
//! back exactly: `convolution_backward_input(grad_output, weight, input_like, stride=[..],
//! padding=[..], dilation=[..], groups=g)` and `convolution_backward_weight(grad_output,
//! input, weight_like, ...)`, with `convolution`'s keywords (`text/conv.rs`).
use super::bind::{Bound, Signature};
use super::conv::conv_params;
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::Op;

const INPUT_SIGNATURE: Signature = Signature {
    params: &[
        "grad_output",
        "weight",
        "input_like",
        "stride",
        "padding",
        "dilation",
        "groups",
    ],
    required: 3,
};

const WEIGHT_SIGNATURE: Signature = Signature {
    params: &[
        "grad_output",
        "input",
        "weight_like",
        "stride",
        "padding",
        "dilation",
        "groups",
    ],
    required: 3,
};

/// The signature of `convolution_backward_input` (`wrt_input`) or `_weight`.
pub(crate) fn signature(wrt_input: bool) -> Signature {
    if wrt_input {
        INPUT_SIGNATURE
    } else {
        WEIGHT_SIGNATURE
    }
}

pub(crate) fn build(b: &Bound, g: &Graph, wrt_input: bool) -> Result<Op, IrError> {
    let grad_output = b.value(g, "grad_output")?;
    let params = conv_params(b)?;
    Ok(if wrt_input {
        Op::ConvBackwardInput {
            grad_output,
            weight: b.value(g, "weight")?,
            input_like: b.value(g, "input_like")?,
            params,
        }
    } else {
        Op::ConvBackwardWeight {
            grad_output,
            input: b.value(g, "input")?,
            weight_like: b.value(g, "weight_like")?,
            params,
        }
    })
}
