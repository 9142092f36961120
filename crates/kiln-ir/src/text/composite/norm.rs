//! The text format's normalisation ops (the nn family), calling [`crate::build::norm`]:
//! `y = layer_norm(x, [C], weight=w, bias=b)`, `y = group_norm(x, 4)`, `y = batch_norm(x,
//! rm, rv)` in eval mode and `y, mean, var = batch_norm(x, None, None, training=true)`
//! (the batch mean and biased variance, shape `[C]`).
use kiln_shape::Dim;

use super::{CompositeDef, expect_results};
use crate::build::norm;
use crate::parse::text::args::ArgKind;
use crate::parse::text::bind::Signature;

pub(crate) const NORMS: &[CompositeDef] = &[
    CompositeDef {
        name: "layer_norm",
        signature: Signature {
            params: &["input", "normalized_shape", "weight", "bias", "eps"],
            required: 2,
        },
        build: |b, g, names| {
            expect_results(b, names, 1, "one tensor")?;
            let x = b.value(g, "input")?;
            // PyTorch accepts one int for a single trailing dim.
            let shape = match &b.raw("normalized_shape")?.kind {
                ArgKind::Int(v) => vec![Dim::Fixed(*v)],
                _ => b.sizes("normalized_shape")?,
            };
            let (w, bias) = (b.opt_value(g, "weight")?, b.opt_value(g, "bias")?);
            let eps = b.float_or("eps", 1e-5)?;
            Ok(vec![norm::layer_norm(
                g, &names[0], x, &shape, w, bias, eps,
            )?])
        },
    },
    CompositeDef {
        name: "group_norm",
        signature: Signature {
            params: &["input", "num_groups", "weight", "bias", "eps"],
            required: 2,
        },
        build: |b, g, names| {
            expect_results(b, names, 1, "one tensor")?;
            let x = b.value(g, "input")?;
            let groups = b.int("num_groups")?;
            let (w, bias) = (b.opt_value(g, "weight")?, b.opt_value(g, "bias")?);
            let eps = b.float_or("eps", 1e-5)?;
            Ok(vec![norm::group_norm(
                g, &names[0], x, groups, w, bias, eps,
            )?])
        },
    },
    CompositeDef {
        name: "batch_norm",
        signature: Signature {
            params: &[
                "input",
                "running_mean",
                "running_var",
                "weight",
                "bias",
                "training",
                "momentum",
                "eps",
            ],
            required: 3,
        },
        build: |b, g, names| {
            let args = norm::BatchNorm {
                running_mean: b.opt_value(g, "running_mean")?,
                running_var: b.opt_value(g, "running_var")?,
                weight: b.opt_value(g, "weight")?,
                bias: b.opt_value(g, "bias")?,
                training: b.bool_or("training", false)?,
                momentum: b.float_or("momentum", 0.1)?,
                eps: b.float_or("eps", 1e-5)?,
            };
            if args.training {
                expect_results(
                    b,
                    names,
                    3,
                    "the result, the batch mean and the batch variance",
                )?;
            } else {
                expect_results(b, names, 1, "one tensor in eval mode")?;
            }
            let x = b.value(g, "input")?;
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            norm::batch_norm(g, &names, x, &args)
        },
    },
];
