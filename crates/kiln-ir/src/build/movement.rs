//! Data movement: `cat`, `stack`, `split`, `chunk`, `narrow`, `slice`, `select`, `pad`,
//! `repeat`. `stack` is `unsqueeze` + `cat`; `split`, `chunk` and `narrow` are slices
//! (`Op::Slice`), one per result; the others add their primitive.
use super::known_rank;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::infer::check::normalize_dim;
use crate::op::{Op, PadMode, SliceBounds, Split};

fn invalid(name: &str, op: &str, msg: String) -> IrError {
    IrError::Invalid {
        node: name.to_string(),
        op: op.to_string(),
        msg,
    }
}

/// `torch.cat(tensors, dim)`.
pub fn cat(g: &mut Graph, name: &str, tensors: &[NodeId], dim: i64) -> Result<NodeId, IrError> {
    g.add_op(
        name,
        Op::Cat {
            xs: tensors.to_vec(),
            dim,
        },
    )
}

/// `torch.stack(tensors, dim)`: every tensor unsqueezed at `dim` (a dim of the result, so
/// `-1` appends one), then concatenated there.
pub fn stack(g: &mut Graph, name: &str, tensors: &[NodeId], dim: i64) -> Result<NodeId, IrError> {
    let Some(&first) = tensors.first() else {
        return Err(invalid(
            name,
            "stack",
            "stack expects a non-empty TensorList".into(),
        ));
    };
    let (_, rank) = known_rank(g, name, "stack", first)?;
    let at = normalize_dim(dim, rank + 1).map_err(|m| invalid(name, "stack", m))? as i64;
    let mut parts = Vec::with_capacity(tensors.len());
    for &x in tensors {
        let part = g.fresh_name(&format!("{name}_part"));
        parts.push(g.add_op(&part, Op::Unsqueeze { x, dim: at })?);
    }
    cat(g, name, &parts, at)
}

/// One `Op::Slice` per name: the parts of `split`/`chunk` as PyTorch sizes them.
fn parts(
    g: &mut Graph,
    names: &[&str],
    x: NodeId,
    split: Split,
    dim: i64,
) -> Result<Vec<NodeId>, IrError> {
    let count = names.len();
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let bounds = SliceBounds::Part {
                split: split.clone(),
                index,
                count,
            };
            g.add_op(name, Op::Slice { x, dim, bounds })
        })
        .collect()
}

/// `torch.split(tensor, split_size_or_sections, dim)`, one result per name; the dim's size
/// must give exactly that many parts (a guard under symbolic sizes).
pub fn split(
    g: &mut Graph,
    names: &[&str],
    x: NodeId,
    split: Split,
    dim: i64,
) -> Result<Vec<NodeId>, IrError> {
    if let (Split::Sections(v), Some(first)) = (&split, names.first())
        && v.len() != names.len()
    {
        return Err(invalid(
            first,
            "split",
            format!(
                "split_size_or_sections={v:?} gives {} results, but {} are assigned",
                v.len(),
                names.len()
            ),
        ));
    }
    parts(g, names, x, split, dim)
}

/// `torch.chunk(input, chunks, dim)`, one result per name (PyTorch may return fewer than
/// `chunks` parts: `chunk` of 5 elements into 4 gives 3 parts of 2, 2 and 1).
pub fn chunk(
    g: &mut Graph,
    names: &[&str],
    x: NodeId,
    chunks: i64,
    dim: i64,
) -> Result<Vec<NodeId>, IrError> {
    parts(g, names, x, Split::Chunks(chunks), dim)
}

/// `torch.narrow(input, dim, start, length)`.
pub fn narrow(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    dim: i64,
    start: i64,
    length: i64,
) -> Result<NodeId, IrError> {
    let bounds = SliceBounds::Narrow { start, length };
    g.add_op(name, Op::Slice { x, dim, bounds })
}

/// `x[start:end:step]` along `dim` (`aten.slice`), Python's bound rules.
pub fn slice(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    dim: i64,
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Result<NodeId, IrError> {
    let bounds = SliceBounds::Range { start, end, step };
    g.add_op(name, Op::Slice { x, dim, bounds })
}

/// `torch.select(input, dim, index)`.
pub fn select(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    dim: i64,
    index: i64,
) -> Result<NodeId, IrError> {
    g.add_op(name, Op::Select { x, dim, index })
}

/// `torch.nn.functional.pad(input, pad, mode, value)` (`value=None` is 0).
pub fn pad(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    pad: &[i64],
    mode: PadMode,
    value: Option<f64>,
) -> Result<NodeId, IrError> {
    let op = Op::Pad {
        x,
        pad: pad.to_vec(),
        mode,
        value: value.unwrap_or(0.0),
    };
    g.add_op(name, op)
}

/// `input.repeat(repeats)`.
pub fn repeat(g: &mut Graph, name: &str, x: NodeId, repeats: &[i64]) -> Result<NodeId, IrError> {
    g.add_op(
        name,
        Op::Repeat {
            x,
            repeats: repeats.to_vec(),
        },
    )
}
