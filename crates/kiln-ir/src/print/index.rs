//! The text form of the gather ops (`text/ops/gather.rs` reads it back).
use super::{format_call, scalar, value};
use crate::graph::Graph;
use crate::op::Op;

pub(super) fn gather_call(g: &Graph, op: &Op) -> String {
    let name = op.name();
    let v = |id| value(g, id);
    match *op {
        Op::IndexSelect { x, dim, index } | Op::Gather { x, dim, index } => {
            format_call(name, &[v(x), dim.to_string(), v(index)], &[])
        }
        Op::ScatterAdd { x, dim, index, src } => {
            format_call(name, &[v(x), dim.to_string(), v(index), v(src)], &[])
        }
        Op::IndexAdd {
            x,
            dim,
            index,
            source,
            alpha,
        } => {
            let kw: Vec<(&str, String)> = if alpha == 1.0 {
                vec![]
            } else {
                vec![("alpha", scalar(alpha))]
            };
            format_call(name, &[v(x), dim.to_string(), v(index), v(source)], &kw)
        }
        Op::Embedding {
            indices,
            weight,
            padding_idx,
        } => {
            let kw: Vec<(&str, String)> = padding_idx
                .map(|p| ("padding_idx", p.to_string()))
                .into_iter()
                .collect();
            format_call(name, &[v(indices), v(weight)], &kw)
        }
        _ => unreachable!("gather_call is only called for gather ops"),
    }
}
