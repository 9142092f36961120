//! `max`/`min` in the text format: `v = max(x)` (all elements), `m = max(x, y)` (elementwise,
//! torch's `max(input, other)`), `values, indices = max(x, dim=1, keepdim=false)`.
use super::super::args::ArgKind;
use super::super::bind::{Bound, Signature};
use super::super::ops::OpForm;
use super::{CompositeDef, expect_results};
use crate::build::index::{extreme_all, max_dim, max_pool2d_with_indices, min_dim};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op};

const SIGNATURE: Signature = Signature {
    params: &["input", "dim", "keepdim"],
    required: 1,
};

/// `max_pool2d`'s parameters and `return_indices`.
const MAX_POOL_SIGNATURE: Signature = Signature {
    params: &[
        "input",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "ceil_mode",
        "return_indices",
    ],
    required: 2,
};

pub(crate) const INDEX: &[CompositeDef] = &[
    CompositeDef {
        name: "max_pool2d",
        signature: MAX_POOL_SIGNATURE,
        build: build_max_pool,
    },
    CompositeDef {
        name: "max",
        signature: SIGNATURE,
        build: build_max,
    },
    CompositeDef {
        name: "min",
        signature: SIGNATURE,
        build: build_min,
    },
];

/// `y = max_pool2d(x, 2)` (the primitive) or `v, i = max_pool2d(x, 2, return_indices=true)`
/// (values and the i64 flat `h * W + w` indices per plane, as torch).
fn build_max_pool(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    let op = OpForm::MaxPool2d.build(b, g)?;
    if !b.bool_or("return_indices", false)? {
        expect_results(b, names, 1, "one tensor")?;
        return Ok(vec![g.add_op(&names[0], op)?]);
    }
    expect_results(b, names, 2, "values and indices")?;
    let Op::MaxPool2d { x, params } = op else {
        unreachable!("OpForm::MaxPool2d builds a max_pool2d")
    };
    let pair = [names[0].as_str(), names[1].as_str()];
    let (v, i) = max_pool2d_with_indices(g, pair, x, params)?;
    Ok(vec![v, i])
}

fn build_max(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    build(b, g, names, true)
}

fn build_min(b: &Bound, g: &mut Graph, names: &[String]) -> Result<Vec<NodeId>, IrError> {
    build(b, g, names, false)
}

fn build(
    b: &Bound,
    g: &mut Graph,
    names: &[String],
    largest: bool,
) -> Result<Vec<NodeId>, IrError> {
    let x = b.value(g, "input")?;
    let second_is_value = b
        .opt_raw("dim")
        .is_some_and(|a| matches!(&a.kind, ArgKind::Name(n) if g.find(n).is_some()));
    if second_is_value {
        expect_results(b, names, 1, "one tensor")?;
        let other = b.operand(g, "dim")?;
        let op = if largest {
            BinaryOp::Maximum
        } else {
            BinaryOp::Minimum
        };
        let op = Op::Binary {
            op,
            a: crate::op::Operand::Value(x),
            b: other,
        };
        return Ok(vec![g.add_op(&names[0], op)?]);
    }
    match b.opt_int("dim")? {
        None => {
            expect_results(b, names, 1, "one tensor")?;
            Ok(vec![extreme_all(g, &names[0], x, largest)?])
        }
        Some(dim) => {
            expect_results(b, names, 2, "values and indices")?;
            let keepdim = b.bool_or("keepdim", false)?;
            let pair = [names[0].as_str(), names[1].as_str()];
            let (v, i) = if largest {
                max_dim(g, pair, x, dim, keepdim)?
            } else {
                min_dim(g, pair, x, dim, keepdim)?
            };
            Ok(vec![v, i])
        }
    }
}
