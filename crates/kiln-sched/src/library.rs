//! Library calls at one launch's sizes: every expression of a [`Gemm`] or [`Conv`] evaluated,
//! checked (non-negative sizes and strides, sizes that multiply without overflow) and proved
//! inside its buffers, so a backend hands the library plain `usize`s it may trust.
//!
//! [`Program::check_accesses`] runs [`LibraryCall::launch`] for the proof; the launchers run
//! it again to get the sizes (a few dozen integer operations).
use kiln_shape::{Bindings, Expr};

use crate::access::AccessError;
use crate::ir::*;

mod pool_grad;
pub use pool_grad::{PoolBackwardAt, pool_out_size};

/// A [`MatrixRef`] at concrete sizes, in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixAt {
    pub offset: usize,
    pub batch_strides: Vec<usize>,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// A [`Gemm`] at concrete sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemmAt {
    pub batch: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: MatrixAt,
    pub b: MatrixAt,
    pub c: MatrixAt,
}

/// A [`Conv`] at concrete sizes (kernel, stride, padding, dilation are in the call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvAt {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub spatial: Vec<usize>,
    pub out_spatial: Vec<usize>,
}

/// What a launch learns about one library call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchAt {
    Gemm(GemmAt),
    Conv(ConvAt),
    PoolBackward(PoolBackwardAt),
    Index(crate::IndexAt),
    PoolIndices(crate::index_call::PoolIndicesAt),
}

struct Ctx<'a> {
    call: &'a str,
    values: &'a Bindings,
    numels: &'a [i64],
}

impl Ctx<'_> {
    fn fail(&self, msg: String) -> AccessError {
        AccessError::Library {
            call: self.call.to_string(),
            msg,
        }
    }

    fn size(&self, e: &Expr) -> Result<usize, AccessError> {
        let v = e.eval(self.values).map_err(|err| AccessError::Eval {
            expr: e.to_string(),
            msg: err.to_string(),
        })?;
        usize::try_from(v).map_err(|_| self.fail(format!("`{e}` is {v}, not a size")))
    }

    fn numel(&self, buf: BufId) -> Result<usize, AccessError> {
        let n = *self
            .numels
            .get(buf as usize)
            .ok_or(AccessError::UnknownBuffer {
                kernel: self.call.to_string(),
                buf,
            })?;
        usize::try_from(n).map_err(|_| AccessError::BadSize { buf, numel: n })
    }

    /// Fails unless `reach` elements starting at 0 fit in `buf` (or nothing is touched).
    fn fits(
        &self,
        buf: BufId,
        what: &str,
        reach: Option<usize>,
        touched: bool,
    ) -> Result<(), AccessError> {
        let numel = self.numel(buf)?;
        match reach {
            _ if !touched => Ok(()),
            Some(r) if r <= numel => Ok(()),
            Some(r) => Err(self.fail(format!(
                "{what} (b{buf}) reaches element {} but the buffer has {numel}",
                r - 1
            ))),
            None => Err(self.fail(format!("{what} (b{buf}): the extent overflows"))),
        }
    }

    fn matrix(
        &self,
        r: &MatrixRef,
        batch: &[usize],
        rows: usize,
        cols: usize,
        what: &str,
    ) -> Result<MatrixAt, AccessError> {
        if r.batch_strides.len() != batch.len() {
            return Err(self.fail(format!(
                "{what} has {} batch strides for {} batch dims",
                r.batch_strides.len(),
                batch.len()
            )));
        }
        let at = MatrixAt {
            offset: self.size(&r.offset)?,
            batch_strides: r
                .batch_strides
                .iter()
                .map(|s| self.size(s))
                .collect::<Result<_, _>>()?,
            row_stride: self.size(&r.row_stride)?,
            col_stride: self.size(&r.col_stride)?,
        };
        // The last element touched, plus one: every stride is non-negative.
        let mut last = Some(at.offset);
        let dims = batch
            .iter()
            .zip(&at.batch_strides)
            .chain([(&rows, &at.row_stride), (&cols, &at.col_stride)]);
        for (&d, &s) in dims {
            let step = d.checked_sub(1).map(|d1| d1.checked_mul(s));
            last = match (last, step) {
                (Some(l), Some(Some(x))) => l.checked_add(x),
                (Some(l), None) => Some(l),
                _ => None,
            };
        }
        let touched = rows > 0 && cols > 0 && batch.iter().all(|&b| b > 0);
        self.fits(r.buf, what, last.and_then(|l| l.checked_add(1)), touched)?;
        Ok(at)
    }
}

fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

impl LibraryCall {
    /// The call at these symbol values, proved inside buffers of `numels` elements.
    pub fn launch(&self, values: &Bindings, numels: &[i64]) -> Result<LaunchAt, AccessError> {
        let ctx = Ctx {
            call: self.name(),
            values,
            numels,
        };
        match self {
            LibraryCall::Gemm(g) => gemm_at(&ctx, g).map(LaunchAt::Gemm),
            LibraryCall::Conv(c) => conv_at(&ctx, c).map(LaunchAt::Conv),
            LibraryCall::Index(c) => c.launch(values, numels).map(LaunchAt::Index),
            LibraryCall::PoolIndices(c) => c.launch(values, numels).map(LaunchAt::PoolIndices),
            // A gradient's geometry and extents are its forward convolution's.
            LibraryCall::ConvGrad(c) if c.conv.transposed => {
                Err(ctx.fail("the gradient of a transposed convolution".into()))
            }
            LibraryCall::ConvGrad(c) => conv_at(&ctx, &c.conv).map(LaunchAt::Conv),
            LibraryCall::PoolBackward(p) => {
                pool_grad::pool_backward_at(&ctx, p).map(LaunchAt::PoolBackward)
            }
        }
    }
}

fn gemm_at(ctx: &Ctx, g: &Gemm) -> Result<GemmAt, AccessError> {
    let batch: Vec<usize> = g
        .batch
        .iter()
        .map(|d| ctx.size(d))
        .collect::<Result<_, _>>()?;
    let (m, n, k) = (ctx.size(&g.m)?, ctx.size(&g.n)?, ctx.size(&g.k)?);
    let a = ctx.matrix(&g.a, &batch, m, k, "a")?;
    let b = ctx.matrix(&g.b, &batch, k, n, "b")?;
    let c = ctx.matrix(&g.c, &batch, m, n, "c")?;
    Ok(GemmAt {
        batch,
        m,
        n,
        k,
        a,
        b,
        c,
    })
}

/// PyTorch's output size of one convolution dim padded `padding = [before, after]`, `None`
/// where it is not positive.
pub fn conv_out_size(
    input: usize,
    kernel: i64,
    stride: i64,
    padding: [i64; 2],
    dilation: i64,
) -> Option<usize> {
    let input = i64::try_from(input).ok()?;
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let room = input
        .checked_add(padding[0])?
        .checked_add(padding[1])?
        .checked_sub(span)?;
    if room < 0 || stride <= 0 {
        return None;
    }
    usize::try_from(room / stride + 1).ok()
}

/// PyTorch's output size of one `conv_transpose2d` dim, `None` where it is not positive:
/// `(input - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1`.
pub fn conv_transpose_out_size(
    input: usize,
    kernel: i64,
    stride: i64,
    padding: i64,
    output_padding: i64,
    dilation: i64,
) -> Option<usize> {
    let input = i64::try_from(input).ok()?;
    let size = input
        .checked_sub(1)?
        .checked_mul(stride)?
        .checked_sub(padding.checked_mul(2)?)?
        .checked_add(dilation.checked_mul(kernel.checked_sub(1)?)?)?
        .checked_add(output_padding)?
        .checked_add(1)?;
    usize::try_from(size).ok().filter(|&s| s > 0)
}

/// The output size of dim `d` of `c` for an input of `input` elements there.
fn expected_out(c: &Conv, d: usize, input: usize) -> Option<usize> {
    if c.transposed {
        conv_transpose_out_size(
            input,
            c.kernel[d],
            c.stride[d],
            c.padding[d],
            c.output_padding[d],
            c.dilation[d],
        )
    } else {
        conv_out_size(
            input,
            c.kernel[d],
            c.stride[d],
            [c.padding[d], c.padding_end[d]],
            c.dilation[d],
        )
    }
}

fn conv_at(ctx: &Ctx, c: &Conv) -> Result<ConvAt, AccessError> {
    let rank = c.spatial.len();
    let params = [
        &c.kernel,
        &c.stride,
        &c.padding,
        &c.padding_end,
        &c.dilation,
        &c.output_padding,
    ];
    if !(1..=2).contains(&rank)
        || c.out_spatial.len() != rank
        || params.iter().any(|p| p.len() != rank)
    {
        return Err(ctx.fail(format!(
            "spatial rank {rank} with mismatched parameter lengths"
        )));
    }
    let bad_param = c
        .kernel
        .iter()
        .chain(&c.stride)
        .chain(&c.dilation)
        .any(|&v| v <= 0)
        || c.padding.iter().chain(&c.padding_end).any(|&p| p < 0)
        || c.output_padding.iter().any(|&p| p < 0)
        || (c.transposed && c.padding != c.padding_end);
    if bad_param || c.groups <= 0 {
        return Err(ctx.fail(
            "kernel, stride, dilation and groups must be positive, paddings non-negative (and \
             symmetric when transposed)"
                .into(),
        ));
    }
    let at = ConvAt {
        n: ctx.size(&c.n)?,
        c_in: ctx.size(&c.c_in)?,
        c_out: ctx.size(&c.c_out)?,
        spatial: c
            .spatial
            .iter()
            .map(|d| ctx.size(d))
            .collect::<Result<_, _>>()?,
        out_spatial: c
            .out_spatial
            .iter()
            .map(|d| ctx.size(d))
            .collect::<Result<_, _>>()?,
    };
    let groups = c.groups as usize;
    if !at.c_in.is_multiple_of(groups) || !at.c_out.is_multiple_of(groups) {
        return Err(ctx.fail(format!(
            "{} and {} channels are not divisible by {groups} groups",
            at.c_in, at.c_out
        )));
    }
    for d in 0..rank {
        let expected = expected_out(c, d, at.spatial[d]);
        if expected != Some(at.out_spatial[d]) {
            return Err(ctx.fail(format!(
                "output dim {d} is {} but the input's {} gives {expected:?}",
                at.out_spatial[d], at.spatial[d]
            )));
        }
    }
    let kernel: Vec<usize> = c.kernel.iter().map(|&k| k as usize).collect();
    let x = product(&at.spatial).and_then(|s| s.checked_mul(at.n)?.checked_mul(at.c_in));
    let w = product(&kernel).and_then(|s| s.checked_mul(at.c_out)?.checked_mul(at.c_in / groups));
    let out = product(&at.out_spatial).and_then(|s| s.checked_mul(at.n)?.checked_mul(at.c_out));
    ctx.fits(c.x, "input", x, true)?;
    ctx.fits(c.w, "weight", w, true)?;
    ctx.fits(c.out, "output", out, true)?;
    Ok(at)
}
