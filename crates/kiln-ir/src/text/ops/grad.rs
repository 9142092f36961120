//! The text forms of the gradient family: `sum_to(input, like)`, `expand_as(input, other)`,
//! `reshape_as(input, other)` (PyTorch's `Tensor.expand_as`/`reshape_as` names) and
//! `torch.slice_scatter(input, src, dim=0, start=None, end=None, step=1)`. The adjoints of
//! `narrow` and of a `split`/`chunk` part are `slice_scatter` too, told apart by keywords as
//! the printer writes them: `length=` (with `start=`) for a narrow, `split_size_or_sections=`
//! or `chunks=` (with `index=`, `count=`) for a part. `cat_part(input, parts, dim, index)` is
//! block `index` of `input` cut as `cat(parts, dim)` joined it (the adjoint of `cat`).
use super::super::bind::{Bound, Signature};
use super::movement::{split_sizes, value_list};
use crate::error::IrError;
use crate::graph::Graph;
use crate::op::{Op, SliceBounds, Split};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Form {
    SumTo,
    ExpandAs,
    ReshapeAs,
    SliceScatter,
    CatPart,
}

const RANGE_ONLY: [&str; 2] = ["end", "step"];
const PART_ONLY: [&str; 4] = ["split_size_or_sections", "chunks", "index", "count"];

impl Form {
    pub(crate) fn by_name(name: &str) -> Option<Form> {
        Some(match name {
            "sum_to" => Form::SumTo,
            "expand_as" => Form::ExpandAs,
            "reshape_as" => Form::ReshapeAs,
            "slice_scatter" => Form::SliceScatter,
            "cat_part" => Form::CatPart,
            _ => return None,
        })
    }

    pub(crate) fn signature(self) -> Signature {
        let sig = |params: &'static [&'static str], required| Signature { params, required };
        match self {
            Form::SumTo => sig(&["input", "like"], 2),
            Form::ExpandAs | Form::ReshapeAs => sig(&["input", "other"], 2),
            Form::SliceScatter => sig(
                &[
                    "input",
                    "src",
                    "dim",
                    "start",
                    "end",
                    "step",
                    "length",
                    "split_size_or_sections",
                    "chunks",
                    "index",
                    "count",
                ],
                2,
            ),
            Form::CatPart => sig(&["input", "parts", "dim", "index"], 4),
        }
    }

    pub(crate) fn build(self, b: &Bound, g: &Graph) -> Result<Op, IrError> {
        let x = || b.value(g, "input");
        Ok(match self {
            Form::SumTo => Op::SumTo {
                x: x()?,
                like: b.value(g, "like")?,
            },
            Form::ExpandAs => Op::ExpandAs {
                x: x()?,
                like: b.value(g, "other")?,
            },
            Form::ReshapeAs => Op::ReshapeAs {
                x: x()?,
                like: b.value(g, "other")?,
            },
            Form::SliceScatter => Op::SliceScatter {
                input: x()?,
                src: b.value(g, "src")?,
                dim: b.opt_int("dim")?.unwrap_or(0),
                bounds: scatter_bounds(b)?,
            },
            Form::CatPart => {
                let index = b.int("index")?;
                Op::CatPart {
                    x: x()?,
                    parts: value_list(b, g, "parts")?,
                    dim: b.int("dim")?,
                    index: usize::try_from(index)
                        .map_err(|_| b.invalid("index", &format!("must be >= 0, found {index}")))?,
                }
            }
        })
    }
}

/// The slice `slice_scatter` writes: a narrow when `length` is given, a split/chunk part
/// when `split_size_or_sections` or `chunks` is, else Python's `start:end:step`.
fn scatter_bounds(b: &Bound) -> Result<SliceBounds, IrError> {
    let given = |p: &str| b.opt_raw(p).is_some();
    let refuse = |params: &[&str], form: &str| -> Result<(), IrError> {
        match params.iter().find(|p| given(p)) {
            Some(p) => Err(b.invalid(p, &format!("cannot be given with {form}"))),
            None => Ok(()),
        }
    };
    if given("length") {
        refuse(&RANGE_ONLY, "length")?;
        refuse(&PART_ONLY, "length")?;
        return Ok(SliceBounds::Narrow {
            start: b.int("start")?,
            length: b.int("length")?,
        });
    }
    let chunks = given("chunks");
    if chunks || given("split_size_or_sections") {
        refuse(&["start", "end", "step"], "a split part")?;
        if chunks && given("split_size_or_sections") {
            return Err(b.invalid("chunks", "cannot be given with split_size_or_sections"));
        }
        let split = if chunks {
            Split::Chunks(b.int("chunks")?)
        } else {
            split_sizes(b, "split_size_or_sections")?
        };
        let part = |p: &str| {
            let v = b.int(p)?;
            usize::try_from(v).map_err(|_| b.invalid(p, &format!("must be >= 0, found {v}")))
        };
        return Ok(SliceBounds::Part {
            split,
            index: part("index")?,
            count: part("count")?,
        });
    }
    refuse(&PART_ONLY, "start/end/step")?;
    Ok(SliceBounds::Range {
        start: b.opt_int("start")?,
        end: b.opt_int("end")?,
        step: b.opt_int("step")?.unwrap_or(1),
    })
}
