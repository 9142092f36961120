//! `max`/`min` in the text format: `v = max(x)` (all elements), `m = max(x, y)` (elementwise,
//! torch's `max(input, other)`), `values, indices = max(x, dim=1, keepdim=false)`.
use super::super::args::ArgKind;
use super::super::bind::{Bound, Signature};
use super::{CompositeDef, expect_results};
use crate::build::index::{extreme_all, max_dim, min_dim};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op};

const SIGNATURE: Signature = Signature {
    params: &["input", "dim", "keepdim"],
    required: 1,
};

pub(crate) const INDEX: &[CompositeDef] = &[
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
