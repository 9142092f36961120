//! The gather family's library call ([`IndexCall`]): `index_select`/`embedding`, `gather`,
//! `scatter_add` and `index_add` over contiguous buffers, addressed by an int64 index buffer.
//! The loop-nest kernel IR has no data-dependent address, so these run as library steps: the
//! backend validates every index against its dim before it touches memory, and
//! [`IndexCall::launch`] proves, at each launch's sizes, that every address the call can form
//! from a valid index lies inside its buffers.
use kiln_ir::DType;
use kiln_shape::{Bindings, Expr};
use serde::{Deserialize, Serialize};

use crate::access::AccessError;
use crate::ir::BufId;

/// Which gather op a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    /// `out[o, k, i] = input[o, index[k], i]` in the (outer, dim, inner) view of `input`
    /// (`embedding` is this along dim 0 of the weight).
    IndexSelect,
    /// `out[p] = input[p with p[dim] = index[p]]`; `out` has the index's shape.
    Gather,
    /// `out = input; out[p with p[dim] = index[p]] += src[p]`, in C order of `p`.
    ScatterAdd,
    /// `out = input; out[o, index[k], i] += alpha * src[o, k, i]`, in order of `k`.
    IndexAdd,
}

/// One gather-family op. `input`, `src` and `out` hold `dtype`, `index` int64; all are
/// contiguous. A 0-d input is seen as shape `[1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexCall {
    pub name: String,
    /// The graph node the call computes, named in an index error.
    pub node: String,
    pub kind: IndexKind,
    pub dtype: DType,
    pub input: BufId,
    pub index: BufId,
    /// `scatter_add`'s `src`, `index_add`'s `source`.
    pub src: Option<BufId>,
    pub out: BufId,
    /// Already normalised (0 for a 0-d input).
    pub dim: usize,
    pub input_shape: Vec<Expr>,
    /// `index_select`/`index_add` read it as a vector of its element count.
    pub index_shape: Vec<Expr>,
    pub src_shape: Vec<Expr>,
    pub alpha: f64,
}

/// An [`IndexCall`] at one launch's sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexAt {
    /// The input's shape (at least one dim).
    pub input: Vec<usize>,
    /// The index's shape (at least one dim; `[k]` for `index_select`/`index_add`).
    pub index: Vec<usize>,
    /// The source's shape (`scatter_add`, `index_add`), else empty.
    pub src: Vec<usize>,
    /// Elements of the output.
    pub out_len: usize,
}

impl IndexCall {
    pub(crate) fn reads(&self) -> Vec<BufId> {
        let mut v = vec![self.input, self.index];
        v.extend(self.src);
        v
    }

    pub(crate) fn buffer_dtypes(&self) -> Vec<(BufId, DType)> {
        let mut v = vec![(self.input, self.dtype), (self.index, DType::I64)];
        v.extend(self.src.map(|s| (s, self.dtype)));
        v.push((self.out, self.dtype));
        v
    }

    pub(crate) fn exprs(&self) -> Vec<&Expr> {
        self.input_shape
            .iter()
            .chain(&self.index_shape)
            .chain(&self.src_shape)
            .collect()
    }

    /// The sizes at `values`, proved inside buffers of `numels` elements.
    pub fn launch(&self, values: &Bindings, numels: &[i64]) -> Result<IndexAt, AccessError> {
        let fail = |msg: String| AccessError::Library {
            call: self.name.clone(),
            msg,
        };
        let sizes = |shape: &[Expr]| -> Result<Vec<usize>, AccessError> {
            let mut out = Vec::with_capacity(shape.len().max(1));
            for e in shape {
                let v = e.eval(values).map_err(|err| AccessError::Eval {
                    expr: e.to_string(),
                    msg: err.to_string(),
                })?;
                out.push(
                    usize::try_from(v).map_err(|_| fail(format!("`{e}` is {v}, not a size")))?,
                );
            }
            if out.is_empty() {
                out.push(1);
            }
            Ok(out)
        };
        let input = sizes(&self.input_shape)?;
        let mut index = sizes(&self.index_shape)?;
        let src = match self.src {
            Some(_) => sizes(&self.src_shape)?,
            None => Vec::new(),
        };
        let d = self.dim;
        if d >= input.len() {
            return Err(fail(format!("dim {d} of a rank-{} input", input.len())));
        }
        let count = |s: &[usize]| s.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        let overflow = || fail("an extent overflows".into());
        let vector = matches!(self.kind, IndexKind::IndexSelect | IndexKind::IndexAdd);
        if vector {
            index = vec![count(&index).ok_or_else(overflow)?];
        }
        // The shape the positions of the call range over: the output's for index_select, the
        // index's for the pointwise ops.
        let mut selected = input.clone();
        selected[d] = index[0];
        let out_len = match self.kind {
            IndexKind::IndexSelect => count(&selected),
            IndexKind::Gather => count(&index),
            IndexKind::ScatterAdd | IndexKind::IndexAdd => count(&input),
        }
        .ok_or_else(overflow)?;
        let shapes_ok = match self.kind {
            IndexKind::IndexSelect => true,
            IndexKind::IndexAdd => count(&src) == count(&selected) && src_matches(&src, &selected),
            IndexKind::Gather | IndexKind::ScatterAdd => {
                let within = |other: &[usize], skip: Option<usize>| {
                    other.len() == index.len()
                        && index
                            .iter()
                            .zip(other)
                            .enumerate()
                            .all(|(j, (a, b))| Some(j) == skip || a <= b)
                };
                within(&input, Some(d)) && (self.kind == IndexKind::Gather || within(&src, None))
            }
        };
        if !shapes_ok {
            return Err(fail(format!(
                "shapes disagree: input {input:?}, index {index:?}, src {src:?}, dim {d}"
            )));
        }
        let fits = |buf: BufId, what: &str, need: Option<usize>| -> Result<(), AccessError> {
            let have = numels.get(buf as usize).ok_or(AccessError::UnknownBuffer {
                kernel: self.name.clone(),
                buf,
            })?;
            let have =
                usize::try_from(*have).map_err(|_| AccessError::BadSize { buf, numel: *have })?;
            match need {
                Some(n) if n <= have => Ok(()),
                Some(n) => Err(fail(format!(
                    "{what} (b{buf}) needs {n} elements but the buffer has {have}"
                ))),
                None => Err(overflow()),
            }
        };
        fits(self.input, "input", count(&input))?;
        fits(self.index, "index", count(&index))?;
        if let Some(s) = self.src {
            fits(s, "src", count(&src))?;
        }
        fits(self.out, "output", Some(out_len))?;
        Ok(IndexAt {
            input,
            index,
            src,
            out_len,
        })
    }
}

/// `index_add`'s source has the selected shape (a 0-d source counts as `[1]`).
fn src_matches(src: &[usize], selected: &[usize]) -> bool {
    src == selected || (src.len() <= 1 && selected.len() <= 1)
}

/// `max_pool2d(..., return_indices=True)`'s indices: for every window of each `h x w` plane
/// of contiguous `x`, the flat position `y * w + x` of its maximum (the first one, or the
/// last NaN, as PyTorch's CPU kernel), written as i64 into contiguous `out`
/// (`[planes, oh, ow]`). The loop-nest IR's arg reductions have no window, so this is a
/// library step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolIndicesCall {
    pub name: String,
    pub dtype: DType,
    pub x: BufId,
    pub out: BufId,
    pub planes: Expr,
    pub h: Expr,
    pub w: Expr,
    pub oh: Expr,
    pub ow: Expr,
    pub params: kiln_ir::Pool2d,
}

/// A [`PoolIndicesCall`] at one launch's sizes: planes, h, w, oh, ow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolIndicesAt {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolIndicesCall {
    pub(crate) fn exprs(&self) -> Vec<&Expr> {
        vec![&self.planes, &self.h, &self.w, &self.oh, &self.ow]
    }

    /// The sizes at `values`, proved inside buffers of `numels` elements; the taps the loop
    /// reads are clipped to the plane, so only the extents need proving.
    pub fn launch(&self, values: &Bindings, numels: &[i64]) -> Result<PoolIndicesAt, AccessError> {
        let fail = |msg: String| AccessError::Library {
            call: self.name.clone(),
            msg,
        };
        let size = |e: &Expr| -> Result<usize, AccessError> {
            let v = e.eval(values).map_err(|err| AccessError::Eval {
                expr: e.to_string(),
                msg: err.to_string(),
            })?;
            usize::try_from(v).map_err(|_| fail(format!("`{e}` is {v}, not a size")))
        };
        let p = &self.params;
        let positive = p
            .kernel_size
            .iter()
            .chain(&p.stride)
            .chain(&p.dilation)
            .all(|&v| v > 0);
        if !positive || p.padding.iter().any(|&v| v < 0) {
            return Err(fail("kernel, stride and dilation must be positive".into()));
        }
        let at = PoolIndicesAt {
            planes: size(&self.planes)?,
            h: size(&self.h)?,
            w: size(&self.w)?,
            oh: size(&self.oh)?,
            ow: size(&self.ow)?,
        };
        let count = |a: usize, b: usize, c: usize| a.checked_mul(b).and_then(|x| x.checked_mul(c));
        for (buf, need) in [
            (self.x, count(at.planes, at.h, at.w)),
            (self.out, count(at.planes, at.oh, at.ow)),
        ] {
            let have = *numels.get(buf as usize).ok_or(AccessError::UnknownBuffer {
                kernel: self.name.clone(),
                buf,
            })?;
            match need {
                Some(n) if i64::try_from(n).is_ok_and(|n| n <= have) => {}
                _ => {
                    return Err(fail(format!(
                        "b{buf} holds {have} elements, fewer than {need:?}"
                    )));
                }
            }
        }
        Ok(at)
    }
}
