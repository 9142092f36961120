//! `conv1d`, `conv2d` and `conv_transpose2d` in the text format, PyTorch's signatures; they
//! expand through [`crate::build::conv`].
use super::{CompositeDef, expect_results};
use crate::build::conv::{self, ConvArgs, ConvPadding};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::ConvTransposeParams;
use crate::parse::text::args::ArgKind;
use crate::parse::text::bind::{Bound, Signature};
use crate::parse::text::conv::int_or_list;

pub(crate) const TABLE: &[CompositeDef] = &[
    CompositeDef {
        name: "conv1d",
        signature: CONV,
        build: |b, g, names| build_conv(b, g, names, 1),
    },
    CompositeDef {
        name: "conv2d",
        signature: CONV,
        build: |b, g, names| build_conv(b, g, names, 2),
    },
    CompositeDef {
        name: "conv_transpose2d",
        signature: Signature {
            params: &[
                "input",
                "weight",
                "bias",
                "stride",
                "padding",
                "output_padding",
                "groups",
                "dilation",
            ],
            required: 2,
        },
        build: build_conv_transpose,
    },
];

const CONV: Signature = Signature {
    params: &[
        "input", "weight", "bias", "stride", "padding", "dilation", "groups",
    ],
    required: 2,
};

/// `padding`: an int, a list, `"same"` or `"valid"`.
fn padding(b: &Bound) -> Result<ConvPadding, IrError> {
    match b.opt_raw("padding").map(|a| &a.kind) {
        Some(ArgKind::Str(s)) => match s.as_str() {
            "same" => Ok(ConvPadding::Same),
            "valid" => Ok(ConvPadding::Valid),
            other => Err(b.invalid(
                "padding",
                &format!("must be \"same\" or \"valid\" when a string, found \"{other}\""),
            )),
        },
        _ => Ok(ConvPadding::Explicit(
            int_or_list(b, "padding")?.unwrap_or_else(|| vec![0]),
        )),
    }
}

fn bias(b: &Bound, g: &Graph) -> Result<Option<NodeId>, IrError> {
    match b.opt_raw("bias") {
        None => Ok(None),
        Some(_) => b.value(g, "bias").map(Some),
    }
}

fn build_conv(
    b: &Bound,
    g: &mut Graph,
    names: &[String],
    spatial: usize,
) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    let args = ConvArgs {
        stride: int_or_list(b, "stride")?.unwrap_or_else(|| vec![1]),
        padding: padding(b)?,
        dilation: int_or_list(b, "dilation")?.unwrap_or_else(|| vec![1]),
        groups: b.opt_int("groups")?.unwrap_or(1),
    };
    let (x, w, bias) = (b.value(g, "input")?, b.value(g, "weight")?, bias(b, g)?);
    let y = if spatial == 1 {
        conv::conv1d(g, &names[0], x, w, bias, &args)?
    } else {
        conv::conv2d(g, &names[0], x, w, bias, &args)?
    };
    Ok(vec![y])
}

fn build_conv_transpose(
    b: &Bound,
    g: &mut Graph,
    names: &[String],
) -> Result<Vec<NodeId>, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    let d = ConvTransposeParams::default();
    let params = ConvTransposeParams {
        stride: b.opt_pair("stride")?.unwrap_or(d.stride),
        padding: b.opt_pair("padding")?.unwrap_or(d.padding),
        output_padding: b.opt_pair("output_padding")?.unwrap_or(d.output_padding),
        groups: b.opt_int("groups")?.unwrap_or(d.groups),
        dilation: b.opt_pair("dilation")?.unwrap_or(d.dilation),
    };
    let (x, w, bias) = (b.value(g, "input")?, b.value(g, "weight")?, bias(b, g)?);
    Ok(vec![conv::conv_transpose2d(
        g, &names[0], x, w, bias, params,
    )?])
}
