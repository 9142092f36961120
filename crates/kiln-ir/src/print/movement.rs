//! The text form of the data movement ops; keywords only where they differ from PyTorch's
//! defaults.
use super::{format_call, list, scalar, value};
use crate::graph::Graph;
use crate::op::{Op, PadMode, SliceBounds, Split};

pub(super) fn call(g: &Graph, op: &Op) -> String {
    let name = op.name();
    let dim_kw = |dim: i64| (dim != 0).then(|| ("dim", dim.to_string()));
    match op {
        Op::Cat { xs, dim } => {
            let names: Vec<String> = xs.iter().map(|&x| value(g, x)).collect();
            let kw: Vec<_> = dim_kw(*dim).into_iter().collect();
            format_call(name, &[format!("[{}]", names.join(", "))], &kw)
        }
        Op::Slice { x, dim, bounds } => {
            let mut kw: Vec<(&str, String)> = dim_kw(*dim).into_iter().collect();
            match bounds {
                SliceBounds::Range { start, end, step } => {
                    kw.extend(start.map(|s| ("start", s.to_string())));
                    kw.extend(end.map(|e| ("end", e.to_string())));
                    if *step != 1 {
                        kw.push(("step", step.to_string()));
                    }
                }
                SliceBounds::Narrow { start, length } => {
                    // narrow's dim has no default.
                    kw = vec![("dim", dim.to_string())];
                    kw.push(("start", start.to_string()));
                    kw.push(("length", length.to_string()));
                }
                SliceBounds::Part {
                    split,
                    index,
                    count,
                } => {
                    kw.insert(
                        0,
                        match split {
                            Split::Size(s) => ("split_size_or_sections", s.to_string()),
                            Split::Sections(v) => ("split_size_or_sections", list(v)),
                            Split::Chunks(c) => ("chunks", c.to_string()),
                        },
                    );
                    kw.push(("index", index.to_string()));
                    kw.push(("count", count.to_string()));
                }
            }
            format_call(name, &[value(g, *x)], &kw)
        }
        Op::Select { x, dim, index } => format_call(
            name,
            &[value(g, *x)],
            &[("dim", dim.to_string()), ("index", index.to_string())],
        ),
        Op::Pad {
            x,
            pad,
            mode,
            value: fill,
        } => {
            let mut kw = vec![("pad", list(pad))];
            if *mode != PadMode::Constant {
                kw.push(("mode", format!("\"{}\"", mode.name())));
            }
            if *fill != 0.0 || fill.is_sign_negative() {
                kw.push(("value", scalar(*fill)));
            }
            format_call(name, &[value(g, *x)], &kw)
        }
        Op::Repeat { x, repeats } => {
            format_call(name, &[value(g, *x)], &[("repeats", list(repeats))])
        }
        _ => unreachable!("not a movement op: {name}"),
    }
}

/// `slice_scatter(input, src, ...)` with PyTorch's keywords where they differ from the
/// defaults; a narrow's bounds as `dim`, `start`, `length`, a split part's as `narrow` and
/// `split_part` write them (`text/ops/grad.rs` reads all three back).
pub(super) fn slice_scatter_call(g: &Graph, op: &Op) -> String {
    let Op::SliceScatter {
        input,
        src,
        dim,
        bounds,
    } = op
    else {
        unreachable!("slice_scatter_call is only called for slice_scatter")
    };
    let mut kw: Vec<(&str, String)> = (*dim != 0)
        .then(|| ("dim", dim.to_string()))
        .into_iter()
        .collect();
    match bounds {
        SliceBounds::Range { start, end, step } => {
            kw.extend(start.map(|s| ("start", s.to_string())));
            kw.extend(end.map(|e| ("end", e.to_string())));
            if *step != 1 {
                kw.push(("step", step.to_string()));
            }
        }
        SliceBounds::Narrow { start, length } => {
            kw.push(("start", start.to_string()));
            kw.push(("length", length.to_string()));
        }
        SliceBounds::Part {
            split,
            index,
            count,
        } => {
            kw.push(match split {
                Split::Size(s) => ("split_size_or_sections", s.to_string()),
                Split::Sections(v) => ("split_size_or_sections", list(v)),
                Split::Chunks(c) => ("chunks", c.to_string()),
            });
            kw.push(("index", index.to_string()));
            kw.push(("count", count.to_string()));
        }
    }
    format_call(op.name(), &[value(g, *input), value(g, *src)], &kw)
}
