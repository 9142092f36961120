//! The text format's activations (the nn family): each statement calls the builder in
//! [`crate::build::activation`] with PyTorch's argument names and defaults.
use super::{CompositeDef, expect_results};
use crate::build::activation as act;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::parse::text::bind::{Bound, Signature};

const fn sig(params: &'static [&'static str]) -> Signature {
    Signature {
        params,
        required: 1,
    }
}

/// The one result's name, and the `input` argument.
fn one(b: &Bound, g: &Graph, names: &[String]) -> Result<NodeId, IrError> {
    expect_results(b, names, 1, "one tensor")?;
    b.value(g, "input")
}

macro_rules! def {
    ($name:literal, [$($param:literal),*], |$b:ident, $g:ident, $x:ident, $n:ident| $body:expr) => {
        CompositeDef {
            name: $name,
            signature: sig(&[$($param),*]),
            build: |$b, $g, names| {
                let $x = one($b, $g, names)?;
                let $n = names[0].as_str();
                Ok(vec![$body?])
            },
        }
    };
}

pub(crate) const ACTIVATIONS: &[CompositeDef] = &[
    def!("clamp", ["input", "min", "max"], |b, g, x, n| {
        act::clamp(g, n, x, b.opt_float("min")?, b.opt_float("max")?)
    }),
    def!("hardtanh", ["input", "min_val", "max_val"], |b, g, x, n| {
        let (lo, hi) = (b.float_or("min_val", -1.0)?, b.float_or("max_val", 1.0)?);
        act::hardtanh(g, n, x, lo, hi)
    }),
    def!("relu6", ["input"], |_b, g, x, n| act::relu6(g, n, x)),
    def!("leaky_relu", ["input", "negative_slope"], |b, g, x, n| {
        act::leaky_relu(g, n, x, b.float_or("negative_slope", 0.01)?)
    }),
    def!("elu", ["input", "alpha"], |b, g, x, n| {
        act::elu(g, n, x, b.float_or("alpha", 1.0)?)
    }),
    def!("selu", ["input"], |_b, g, x, n| act::selu(g, n, x)),
    def!("hardswish", ["input"], |_b, g, x, n| act::hardswish(
        g, n, x
    )),
    def!("hardsigmoid", ["input"], |_b, g, x, n| act::hardsigmoid(
        g, n, x
    )),
    def!("mish", ["input"], |_b, g, x, n| act::mish(g, n, x)),
    def!("softplus", ["input", "beta", "threshold"], |b, g, x, n| {
        let (beta, threshold) = (b.float_or("beta", 1.0)?, b.float_or("threshold", 20.0)?);
        act::softplus(g, n, x, beta, threshold)
    }),
    CompositeDef {
        name: "log_softmax",
        signature: Signature {
            params: &["input", "dim"],
            required: 2,
        },
        build: |b, g, names| {
            let x = one(b, g, names)?;
            Ok(vec![act::log_softmax(g, &names[0], x, b.int("dim")?)?])
        },
    },
    def!("dropout", ["input", "p", "training"], |b, g, x, n| {
        let (p, training) = (b.float_or("p", 0.5)?, b.bool_or("training", false)?);
        act::dropout(g, n, x, p, training)
    }),
];
