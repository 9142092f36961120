//! Parameters of the data movement ops (`cat`, `slice`/`narrow`/split parts, `select`, `pad`,
//! `repeat`): each is an index rewrite of its input, so the scheduler never copies for them
//! (except `cat`, which stores each input into its slice of the output).
use serde::{Deserialize, Serialize};

/// How `pad` fills the border, PyTorch's `mode` argument (`circular` is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PadMode {
    Constant,
    Reflect,
    Replicate,
}

impl PadMode {
    pub fn name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
        }
    }
    pub fn parse(s: &str) -> Option<PadMode> {
        [PadMode::Constant, PadMode::Reflect, PadMode::Replicate]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// How `split`/`chunk` cut a dim into parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    /// `split(x, split_size)`: parts of `split_size`, the last one shorter.
    Size(i64),
    /// `split(x, [s0, s1, ...])`: parts of exactly these sizes (they must sum to the dim).
    Sections(Vec<i64>),
    /// `chunk(x, chunks)`: parts of `ceil(size / chunks)`; there may be fewer than `chunks`.
    Chunks(i64),
}

/// Which elements of one dim a slice keeps: the range `start + i * step` for `i < len`,
/// computed from the dim's (symbolic) size by shape inference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SliceBounds {
    /// `x[start:end:step]` (`aten.slice`): Python's rules, negative bounds count from the
    /// end and out-of-range bounds are clamped; `step >= 1`.
    Range {
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    },
    /// `narrow(x, dim, start, length)`: `start` may be negative; the range must fit.
    Narrow { start: i64, length: i64 },
    /// Part `index` of the `count` parts `split`/`chunk` return; the dim's size must give
    /// exactly `count` parts.
    Part {
        split: Split,
        index: usize,
        count: usize,
    },
}

impl SliceBounds {
    /// The text format's name of the op that writes these bounds.
    pub fn op_name(&self) -> &'static str {
        match self {
            SliceBounds::Range { .. } => "slice",
            SliceBounds::Narrow { .. } => "narrow",
            SliceBounds::Part {
                split: Split::Chunks(_),
                ..
            } => "chunk_part",
            SliceBounds::Part { .. } => "split_part",
        }
    }
}
