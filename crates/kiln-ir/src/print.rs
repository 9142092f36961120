//! The `.kiln` printer, and structural equality of graphs for round-trip checks.
//!
//! Nodes are printed in insertion order, so `parse_unchecked(&print(g))` rebuilds the same node
//! ids. Keyword arguments are printed only where they differ from the op's default.
use std::fmt::Write;

use kiln_shape::Dim;

use crate::graph::{Graph, NodeId, NodeKind};
use crate::op::{Op, Operand, Pool2d, UnaryOp};
use crate::tensor::Tensor;

mod index;
mod movement;

/// Writes a graph as `.kiln` text such that `parse_unchecked(&print(g))` has the
/// [`same_structure`] as `g` (given names that are identifiers, and pooling parameters the
/// text can express: avg pooling has no dilation).
pub fn print(g: &Graph) -> String {
    let mut out = format!("graph {}\n", g.name);
    for id in g.node_ids() {
        let node = g.node(id);
        match &node.kind {
            NodeKind::Input(index) => {
                if let Some(decl) = g.inputs().get(*index) {
                    let dims: Vec<String> = decl.dims.iter().map(Dim::to_string).collect();
                    let word = if decl.is_param() { "param" } else { "input" };
                    let _ = writeln!(
                        out,
                        "{word} {}: {}[{}]",
                        decl.name,
                        decl.dtype,
                        dims.join(", ")
                    );
                }
            }
            NodeKind::Constant(t) => {
                let _ = writeln!(out, "{} = {}", node.name, constant(t));
            }
            NodeKind::Op(op) => {
                let _ = writeln!(out, "{} = {}", node.name, call(g, op));
            }
        }
    }
    let _ = writeln!(out, "output {}", g.output_names().join(", "));
    out
}

/// A scalar that parses back to the same f64: `{:?}` round-trips and keeps a `.0` or an
/// exponent on integral values; infinities and NaN use the format's words.
pub(crate) fn scalar(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v == f64::INFINITY {
        "inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-inf".to_string()
    } else {
        format!("{v:?}")
    }
}

fn list<T: ToString>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(T::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn operand(g: &Graph, o: &Operand) -> String {
    match o {
        Operand::Value(id) => value(g, *id),
        Operand::Scalar(v) => scalar(*v),
    }
}

fn value(g: &Graph, id: NodeId) -> String {
    g.node(id).name.clone()
}

/// `op(positional, keyword=value, ...)`.
fn format_call(name: &str, positional: &[String], keywords: &[(&str, String)]) -> String {
    let mut args: Vec<String> = positional.to_vec();
    args.extend(keywords.iter().map(|(k, v)| format!("{k}={v}")));
    format!("{name}({})", args.join(", "))
}

fn call(g: &Graph, op: &Op) -> String {
    let name = op.name();
    let x = |id: &NodeId| vec![value(g, *id)];
    match op {
        Op::Unary {
            op: UnaryOp::GeluTanh,
            x: input,
        } => format_call(name, &x(input), &[("approximate", "\"tanh\"".to_string())]),
        Op::Unary { x: input, .. } => format_call(name, &x(input), &[]),
        Op::Binary { a, b, .. } => format_call(name, &[operand(g, a), operand(g, b)], &[]),
        Op::Where { cond, a, b } => {
            format_call(name, &[operand(g, cond), operand(g, a), operand(g, b)], &[])
        }
        Op::Cast { x: input, dtype } => {
            format_call(name, &x(input), &[("dtype", dtype.to_string())])
        }
        Op::Reduce {
            x: input,
            dims,
            keepdim,
            ..
        } => {
            let mut kw = Vec::new();
            match dims.as_slice() {
                [] => {}
                [d] => kw.push(("dim", d.to_string())),
                _ => kw.push(("dim", list(dims))),
            }
            if *keepdim {
                kw.push(("keepdim", "true".to_string()));
            }
            format_call(name, &x(input), &kw)
        }
        Op::ArgMax {
            x: input,
            dim,
            keepdim,
        }
        | Op::ArgMin {
            x: input,
            dim,
            keepdim,
        } => {
            let mut kw = Vec::new();
            if let Some(d) = dim {
                kw.push(("dim", d.to_string()));
            }
            if *keepdim {
                kw.push(("keepdim", "true".to_string()));
            }
            format_call(name, &x(input), &kw)
        }
        Op::CumSum { x: input, dim } => format_call(name, &x(input), &[("dim", dim.to_string())]),
        Op::Softmax { x: input, dim } => format_call(name, &x(input), &[("dim", dim.to_string())]),
        Op::MaxPool2d { x: input, params } | Op::MaxPool2dIndices { x: input, params } => {
            format_call(name, &x(input), &pool_keywords(params, true))
        }
        Op::AvgPool2d { x: input, params } => {
            format_call(name, &x(input), &pool_keywords(params, false))
        }
        Op::AdaptiveAvgPool2d {
            x: input,
            output_size,
        }
        | Op::AdaptiveMaxPool2d {
            x: input,
            output_size,
        } => format_call(name, &x(input), &[("output_size", list(output_size))]),
        Op::Reshape { x: input, shape } => format_call(name, &x(input), &[("shape", list(shape))]),
        Op::Permute { x: input, dims } => format_call(name, &x(input), &[("dims", list(dims))]),
        Op::Transpose {
            x: input,
            dim0,
            dim1,
        } => format_call(
            name,
            &x(input),
            &[("dim0", dim0.to_string()), ("dim1", dim1.to_string())],
        ),
        Op::Unsqueeze { x: input, dim } => {
            format_call(name, &x(input), &[("dim", dim.to_string())])
        }
        Op::Squeeze { x: input, dims } => match dims.as_deref() {
            None => format_call(name, &x(input), &[]),
            Some([d]) => format_call(name, &x(input), &[("dim", d.to_string())]),
            Some(ds) => format_call(name, &x(input), &[("dim", list(ds))]),
        },
        Op::Expand { x: input, shape } => format_call(name, &x(input), &[("size", list(shape))]),
        Op::Conv {
            x: input,
            w,
            params,
        } => {
            let kw = crate::parse::text::conv::conv_keywords(params);
            format_call(name, &[value(g, *input), value(g, *w)], &kw)
        }
        Op::ConvTranspose2d {
            x: input,
            w,
            params,
        } => {
            let kw = crate::parse::text::conv::conv_transpose_keywords(params);
            format_call(name, &[value(g, *input), value(g, *w)], &kw)
        }
        Op::Flatten {
            x: input,
            start_dim,
            end_dim,
        } => format_call(
            name,
            &x(input),
            &[
                ("start_dim", start_dim.to_string()),
                ("end_dim", end_dim.to_string()),
            ],
        ),
        Op::Unflatten {
            x: input,
            dim,
            sizes,
        } => format_call(
            name,
            &x(input),
            &[("dim", dim.to_string()), ("sizes", list(sizes))],
        ),
        Op::Cat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::Pad { .. }
        | Op::Repeat { .. } => movement::call(g, op),
        Op::MatMul { a, b } => format_call(name, &[value(g, *a), value(g, *b)], &[]),
        Op::SumTo { x: input, like }
        | Op::ExpandAs { x: input, like }
        | Op::ReshapeAs { x: input, like } => {
            format_call(name, &[value(g, *input), value(g, *like)], &[])
        }
        Op::SliceScatter { .. } => movement::slice_scatter_call(g, op),
        Op::IndexSelect { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::IndexAdd { .. }
        | Op::Embedding { .. } => index::gather_call(g, op),
        Op::CatPart {
            x: input,
            parts,
            dim,
            index,
        } => {
            let names: Vec<String> = parts.iter().map(|&p| value(g, p)).collect();
            format_call(
                name,
                &[value(g, *input), format!("[{}]", names.join(", "))],
                &[("dim", dim.to_string()), ("index", index.to_string())],
            )
        }
        Op::ConvBackwardInput {
            grad_output: a,
            weight: b,
            input_like: c,
            params,
        }
        | Op::ConvBackwardWeight {
            grad_output: a,
            input: b,
            weight_like: c,
            params,
        } => {
            let kw = crate::parse::text::conv::conv_keywords(params);
            format_call(name, &[value(g, *a), value(g, *b), value(g, *c)], &kw)
        }
        Op::MaxPool2dBackward {
            grad_output,
            input,
            params,
        }
        | Op::AvgPool2dBackward {
            grad_output,
            input,
            params,
        } => format_call(
            name,
            &[value(g, *grad_output), value(g, *input)],
            &pool_keywords(params, matches!(op, Op::MaxPool2dBackward { .. })),
        ),
        Op::AdaptiveAvgPool2dBackward { grad_output, input }
        | Op::AdaptiveMaxPool2dBackward { grad_output, input } => {
            format_call(name, &[value(g, *grad_output), value(g, *input)], &[])
        }
    }
}

/// Pooling keywords that differ from PyTorch's defaults (stride defaults to the kernel size).
fn pool_keywords(p: &Pool2d, is_max: bool) -> Vec<(&'static str, String)> {
    let mut kw = vec![("kernel_size", list(&p.kernel_size))];
    if p.stride != p.kernel_size {
        kw.push(("stride", list(&p.stride)));
    }
    if p.padding != [0, 0] {
        kw.push(("padding", list(&p.padding)));
    }
    if is_max && p.dilation != [1, 1] {
        kw.push(("dilation", list(&p.dilation)));
    }
    if p.ceil_mode {
        kw.push(("ceil_mode", "true".to_string()));
    }
    if !is_max && !p.count_include_pad {
        kw.push(("count_include_pad", "false".to_string()));
    }
    if let (false, Some(d)) = (is_max, p.divisor_override) {
        kw.push(("divisor_override", d.to_string()));
    }
    kw
}

/// `tensor(DATA)` or `tensor(DATA, dtype=D)`, with nested lists following the shape.
fn constant(t: &Tensor) -> String {
    let values = t.to_f64();
    let dtype = t.dtype;
    let leaf = |v: f64| match dtype {
        crate::dtype::DType::Bool => (v != 0.0).to_string(),
        // Integers print as integers (`tensor([0, 2], dtype=i64)`), except beyond 2^53,
        // where the f64 the text format reads them through is what round-trips (-2^63 has
        // no integer literal).
        crate::dtype::DType::I64 if v.abs() < 9_007_199_254_740_992.0 => (v as i64).to_string(),
        _ => scalar(v),
    };
    let mut data = String::new();
    // Nested lists stop at the first empty one, so a zero size before the last dim needs
    // the explicit shape; the data is then flat (and empty).
    let zero_inside = t
        .shape
        .split_last()
        .is_some_and(|(_, lead)| lead.contains(&0));
    let shape = if zero_inside {
        vec![values.len()]
    } else {
        t.shape.clone()
    };
    nested(&mut data, &shape, &values, &leaf);
    let mut keywords = Vec::new();
    if t.dtype != crate::dtype::DType::F32 {
        keywords.push(("dtype", t.dtype.to_string()));
    }
    if zero_inside {
        keywords.push(("shape", list(&t.shape)));
    }
    format_call("tensor", &[data], &keywords)
}

/// Writes `values` (C order) as lists nested along `shape`.
fn nested(out: &mut String, shape: &[usize], values: &[f64], leaf: &dyn Fn(f64) -> String) {
    let Some((&len, rest)) = shape.split_first() else {
        if let Some(&v) = values.first() {
            out.push_str(&leaf(v));
        }
        return;
    };
    let stride: usize = rest.iter().product();
    out.push('[');
    for i in 0..len {
        if i > 0 {
            out.push_str(", ");
        }
        let start = i.saturating_mul(stride).min(values.len());
        let end = start.saturating_add(stride).min(values.len());
        nested(out, rest, &values[start..end], leaf);
    }
    out.push(']');
}

/// Whether two graphs are the same: name, inputs, nodes (name and kind) in order, outputs.
/// Scalars compare by bit pattern, so a NaN scalar equals itself.
pub fn same_structure(a: &Graph, b: &Graph) -> bool {
    a.name == b.name
        && a.inputs() == b.inputs()
        && a.outputs() == b.outputs()
        && a.len() == b.len()
        && a.node_ids().zip(b.node_ids()).all(|(x, y)| {
            let (x, y) = (a.node(x), b.node(y));
            x.name == y.name && same_kind(&x.kind, &y.kind)
        })
}

fn same_kind(a: &NodeKind, b: &NodeKind) -> bool {
    match (a, b) {
        (NodeKind::Op(x), NodeKind::Op(y)) => {
            // Serialized ops hold scalars as their bits; the serializer cannot fail on `Op`.
            match (postcard::to_allocvec(x), postcard::to_allocvec(y)) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            }
        }
        _ => a == b,
    }
}
