//! The text forms of the convolution primitives, which the printer writes and the parser
//! reads back exactly: `convolution(x, w, stride=[s..], padding=[..], dilation=[..],
//! groups=g)` and `convolution_transpose2d(x, w, stride=.., padding=.., output_padding=..,
//! groups=.., dilation=..)`. PyTorch's `conv1d`/`conv2d`/`conv_transpose2d`, with bias and
//! `"same"`, are composites (`text/composite/conv.rs`).
use super::args::ArgKind;
use super::bind::{Bound, Signature};
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::{ConvParams, ConvTransposeParams, Op};

/// An int (one entry) or a list of ints; `None` when omitted.
pub(crate) fn int_or_list(b: &Bound, param: &str) -> Result<Option<Vec<i64>>, IrError> {
    let Some(arg) = b.opt_raw(param) else {
        return Ok(None);
    };
    let bad = || {
        b.invalid(
            param,
            &format!("expects an integer or a list of integers, found {arg}"),
        )
    };
    match &arg.kind {
        ArgKind::Int(v) => Ok(Some(vec![*v])),
        ArgKind::List(items) => items
            .iter()
            .map(|item| match item.kind {
                ArgKind::Int(v) => Ok(v),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Err(bad()),
    }
}

pub(crate) const CONV_SIGNATURE: Signature = Signature {
    params: &["input", "weight", "stride", "padding", "dilation", "groups"],
    required: 3,
};

pub(crate) const CONV_TRANSPOSE_SIGNATURE: Signature = Signature {
    params: &[
        "input",
        "weight",
        "stride",
        "padding",
        "output_padding",
        "groups",
        "dilation",
    ],
    required: 2,
};

/// `convolution(...)`: the stride's length is the number of spatial dims; padding has one
/// entry per dim (both sides) or two (`[before_0, after_0, before_1, after_1]`).
pub(crate) fn build_conv(b: &Bound, g: &Graph) -> Result<Op, IrError> {
    Ok(Op::Conv {
        x: b.value(g, "input")?,
        w: b.value(g, "weight")?,
        params: conv_params(b)?,
    })
}

/// The `stride`, `padding`, `dilation` and `groups` keywords of `convolution` (and of its
/// backward ops, `text/conv_grad.rs`).
pub(crate) fn conv_params(b: &Bound) -> Result<ConvParams, IrError> {
    let stride = int_or_list(b, "stride")?.unwrap_or_default();
    let spatial = stride.len();
    let padding = match int_or_list(b, "padding")? {
        None => vec![[0, 0]; spatial],
        Some(p) if p.len() == spatial => p.iter().map(|&v| [v, v]).collect(),
        Some(p) if p.len() == 2 * spatial => p.chunks(2).map(|c| [c[0], c[1]]).collect(),
        Some(p) => {
            let msg = format!(
                "has {} entries; expected {spatial} or {}",
                p.len(),
                2 * spatial
            );
            return Err(b.invalid("padding", &msg));
        }
    };
    Ok(ConvParams {
        stride,
        padding,
        dilation: int_or_list(b, "dilation")?.unwrap_or_else(|| vec![1; spatial]),
        groups: b.opt_int("groups")?.unwrap_or(1),
    })
}

pub(crate) fn build_conv_transpose(b: &Bound, g: &Graph) -> Result<Op, IrError> {
    let d = ConvTransposeParams::default();
    Ok(Op::ConvTranspose2d {
        x: b.value(g, "input")?,
        w: b.value(g, "weight")?,
        params: ConvTransposeParams {
            stride: b.opt_pair("stride")?.unwrap_or(d.stride),
            padding: b.opt_pair("padding")?.unwrap_or(d.padding),
            output_padding: b.opt_pair("output_padding")?.unwrap_or(d.output_padding),
            groups: b.opt_int("groups")?.unwrap_or(d.groups),
            dilation: b.opt_pair("dilation")?.unwrap_or(d.dilation),
        },
    })
}

fn list(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The keywords [`build_conv`] reads back into `p`.
pub(crate) fn conv_keywords(p: &ConvParams) -> Vec<(&'static str, String)> {
    let mut kw = vec![("stride", list(&p.stride))];
    if p.padding.iter().any(|[lo, hi]| lo != hi) {
        let flat: Vec<i64> = p.padding.iter().flatten().copied().collect();
        kw.push(("padding", list(&flat)));
    } else if p.padding.iter().any(|[lo, _]| *lo != 0) {
        let lo: Vec<i64> = p.padding.iter().map(|[lo, _]| *lo).collect();
        kw.push(("padding", list(&lo)));
    }
    if p.dilation.iter().any(|&d| d != 1) {
        kw.push(("dilation", list(&p.dilation)));
    }
    if p.groups != 1 {
        kw.push(("groups", p.groups.to_string()));
    }
    kw
}

/// The keywords [`build_conv_transpose`] reads back into `p` (those off the defaults).
pub(crate) fn conv_transpose_keywords(p: &ConvTransposeParams) -> Vec<(&'static str, String)> {
    let d = ConvTransposeParams::default();
    let mut kw = Vec::new();
    let pairs = [
        ("stride", p.stride, d.stride),
        ("padding", p.padding, d.padding),
        ("output_padding", p.output_padding, d.output_padding),
        ("dilation", p.dilation, d.dilation),
    ];
    for (name, v, default) in pairs {
        if v != default {
            kw.push((name, list(&v)));
        }
    }
    if p.groups != 1 {
        kw.push(("groups", p.groups.to_string()));
    }
    kw
}
