//! The text forms of the data movement primitives. `split_part` and `chunk_part` are what
//! the printer writes for one result of `split`/`chunk` (composites with several results,
//! `text/composite/movement.rs`).
use super::super::args::{Arg, ArgKind};
use super::super::bind::{Bound, Signature};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{Op, PadMode, SliceBounds, Split};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Form {
    Cat,
    Slice,
    Narrow,
    SplitPart,
    ChunkPart,
    Select,
    Pad,
    Repeat,
}

impl Form {
    pub(crate) fn by_name(name: &str) -> Option<Form> {
        Some(match name {
            "cat" => Form::Cat,
            "slice" => Form::Slice,
            "narrow" => Form::Narrow,
            "split_part" => Form::SplitPart,
            "chunk_part" => Form::ChunkPart,
            "select" => Form::Select,
            "pad" => Form::Pad,
            "repeat" => Form::Repeat,
            _ => return None,
        })
    }

    pub(crate) fn signature(self) -> Signature {
        let sig = |params: &'static [&'static str], required| Signature { params, required };
        match self {
            Form::Cat => sig(&["tensors", "dim"], 1),
            Form::Slice => sig(&["input", "dim", "start", "end", "step"], 1),
            Form::Narrow => sig(&["input", "dim", "start", "length"], 4),
            Form::SplitPart => sig(
                &["input", "split_size_or_sections", "dim", "index", "count"],
                2,
            ),
            Form::ChunkPart => sig(&["input", "chunks", "dim", "index", "count"], 2),
            Form::Select => sig(&["input", "dim", "index"], 3),
            Form::Pad => sig(&["input", "pad", "mode", "value"], 2),
            Form::Repeat => sig(&["input", "repeats"], 2),
        }
    }

    pub(crate) fn build(self, b: &Bound, g: &Graph) -> Result<Op, IrError> {
        let x = || b.value(g, "input");
        let dim = || Ok::<i64, IrError>(b.opt_int("dim")?.unwrap_or(0));
        Ok(match self {
            Form::Cat => Op::Cat {
                xs: value_list(b, g, "tensors")?,
                dim: dim()?,
            },
            Form::Slice => Op::Slice {
                x: x()?,
                dim: dim()?,
                bounds: SliceBounds::Range {
                    start: b.opt_int("start")?,
                    end: b.opt_int("end")?,
                    step: b.opt_int("step")?.unwrap_or(1),
                },
            },
            Form::Narrow => Op::Slice {
                x: x()?,
                dim: b.int("dim")?,
                bounds: SliceBounds::Narrow {
                    start: b.int("start")?,
                    length: b.int("length")?,
                },
            },
            Form::SplitPart | Form::ChunkPart => {
                let split = if self == Form::ChunkPart {
                    Split::Chunks(b.int("chunks")?)
                } else {
                    split_sizes(b, "split_size_or_sections")?
                };
                let (index, count) = (part_number(b, "index")?, part_number(b, "count")?);
                Op::Slice {
                    x: x()?,
                    dim: dim()?,
                    bounds: SliceBounds::Part {
                        split,
                        index,
                        count,
                    },
                }
            }
            Form::Select => Op::Select {
                x: x()?,
                dim: b.int("dim")?,
                index: b.int("index")?,
            },
            Form::Pad => pad(b, g)?,
            Form::Repeat => Op::Repeat {
                x: x()?,
                repeats: b.int_list("repeats")?,
            },
        })
    }
}

/// A list of value names, `[a, b, c]`.
pub(crate) fn value_list(b: &Bound, g: &Graph, param: &str) -> Result<Vec<NodeId>, IrError> {
    const EXPECTS: &str = "expects a list of value names";
    let arg = b.raw(param)?;
    let ArgKind::List(items) = &arg.kind else {
        return Err(b.invalid(param, &format!("{EXPECTS}, found {arg}")));
    };
    items
        .iter()
        .map(|item| match &item.kind {
            ArgKind::Name(n) => g
                .find(n)
                .ok_or_else(|| b.invalid(param, &format!("names unknown value '{n}'"))),
            _ => Err(b.invalid(param, &format!("{EXPECTS}, found {item}"))),
        })
        .collect()
}

/// `split`'s `split_size_or_sections`: an int or a list of ints.
pub(crate) fn split_sizes(b: &Bound, param: &str) -> Result<Split, IrError> {
    let arg = b.raw(param)?;
    let int = |a: &Arg| match a.kind {
        ArgKind::Int(v) => Ok(v),
        _ => Err(b.invalid(
            param,
            &format!("expects an integer or a list of integers, found {a}"),
        )),
    };
    match &arg.kind {
        ArgKind::List(items) => Ok(Split::Sections(
            items.iter().map(int).collect::<Result<_, _>>()?,
        )),
        _ => Ok(Split::Size(int(arg)?)),
    }
}

fn part_number(b: &Bound, param: &str) -> Result<usize, IrError> {
    let v = b
        .opt_int(param)?
        .unwrap_or(if param == "count" { 1 } else { 0 });
    usize::try_from(v).map_err(|_| b.invalid(param, &format!("must be >= 0, found {v}")))
}

fn pad(b: &Bound, g: &Graph) -> Result<Op, IrError> {
    let mode = b.string_or("mode", "constant")?;
    let mode = PadMode::parse(mode).ok_or_else(|| {
        b.invalid(
            "mode",
            &format!("must be \"constant\", \"reflect\" or \"replicate\", found \"{mode}\""),
        )
    })?;
    let value = match b.opt_raw("value").map(|a| &a.kind) {
        None => 0.0,
        Some(ArgKind::Int(v)) => *v as f64,
        Some(ArgKind::Float(v)) => *v,
        Some(_) => return Err(b.invalid("value", "expects a number or None")),
    };
    if mode != PadMode::Constant && value != 0.0 {
        return Err(b.invalid(
            "value",
            &format!(
                "is only meaningful for mode=\"constant\" (mode is \"{}\")",
                mode.name()
            ),
        ));
    }
    Ok(Op::Pad {
        x: b.value(g, "input")?,
        pad: b.int_list("pad")?,
        mode,
        value,
    })
}
