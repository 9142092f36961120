//! How a convolution step runs on the device, a pure function of the proved [`ConvAt`]:
//! depthwise convolutions (one input channel per group) as a direct kernel; every other one as
//! an im2col pass into a scratch buffer (skipped for 1x1 stride-1 unpadded convolutions, whose
//! input already is the column matrix) and one cuBLAS GEMM per group, strided-batched over
//! the images: `out[b, g] (c_out/groups x P) = w[g] (c_out/groups x K) @ col[b, g] (K x P)`
//! with `K = c_in/groups * kernel elements` and `P` output positions. A 1-d convolution is the
//! 2-d one with a height of 1.
use kiln_sched::{Conv, ConvAt, GemmAt, MatrixAt};

/// The most bytes of im2col scratch one pass uses; larger batches run in chunks of images.
pub const SCRATCH_LIMIT_BYTES: usize = 256 << 20;

/// A convolution's sizes as 2-d (height 1 for 1-d), in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvAlgo {
    /// The output has no elements: nothing runs.
    Empty,
    /// `kiln_depthwise_<dtype>`, one thread per output element.
    Depthwise,
    /// GEMMs per group over chunks of `chunk` images; `im2col` when the input must be
    /// unfolded first, into `scratch_elems` elements (one chunk's columns).
    Gemm {
        im2col: bool,
        chunk: usize,
        scratch_elems: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvPlan {
    pub n: usize,
    pub c_out: usize,
    pub groups: usize,
    pub geom: Geometry,
    pub algo: ConvAlgo,
}

fn as_size(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} is {v}"))
}

impl Geometry {
    fn of(c: &Conv, at: &ConvAt) -> Result<Geometry, String> {
        if c.transposed {
            return Err("transposed convolution has no CUDA library kernel yet".into());
        }
        // im2col pads by the leading amount and bounds-checks every read, so an asymmetric
        // end padding (PyTorch's "same" with an even kernel) only shows in the output size.
        let two = |v: &[usize], pad: usize| match v {
            [x] => Ok((pad, *x)),
            [y, x] => Ok((*y, *x)),
            _ => Err(format!("spatial rank {} (1 or 2 expected)", v.len())),
        };
        let params = |v: &[i64], pad: i64, what: &str| -> Result<(usize, usize), String> {
            let v: Vec<usize> = v
                .iter()
                .map(|&x| as_size(x, what))
                .collect::<Result<_, _>>()?;
            two(&v, as_size(pad, what)?)
        };
        let (h, w) = two(&at.spatial, 1)?;
        let (oh, ow) = two(&at.out_spatial, 1)?;
        let (kh, kw) = params(&c.kernel, 1, "kernel")?;
        let (sh, sw) = params(&c.stride, 1, "stride")?;
        let (ph, pw) = params(&c.padding, 0, "padding")?;
        let (dh, dw) = params(&c.dilation, 1, "dilation")?;
        Ok(Geometry {
            c_in: at.c_in,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            dh,
            dw,
            oh,
            ow,
        })
    }

    /// Output positions per channel.
    pub fn positions(&self) -> Option<usize> {
        self.oh.checked_mul(self.ow)
    }

    /// Kernel elements per channel.
    pub fn taps(&self) -> Option<usize> {
        self.kh.checked_mul(self.kw)
    }

    fn is_pointwise(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)
    }
}

/// The plan for one convolution at launch sizes; `elem_bytes` sizes the scratch.
pub fn plan_conv(c: &Conv, at: &ConvAt, elem_bytes: usize) -> Result<ConvPlan, String> {
    let geom = Geometry::of(c, at)?;
    let groups = as_size(c.groups, "groups")?;
    if groups == 0 || !at.c_in.is_multiple_of(groups) || !at.c_out.is_multiple_of(groups) {
        return Err(format!(
            "{} and {} channels do not split into {groups} groups",
            at.c_in, at.c_out
        ));
    }
    let overflow = || "the convolution's sizes overflow".to_string();
    let p = geom.positions().ok_or_else(overflow)?;
    let cig = at.c_in / groups;
    let k = cig
        .checked_mul(geom.taps().ok_or_else(overflow)?)
        .ok_or_else(overflow)?;
    let algo = if at.n == 0 || at.c_out == 0 || p == 0 {
        ConvAlgo::Empty
    } else if cig == 1 && groups > 1 {
        ConvAlgo::Depthwise
    } else if geom.is_pointwise() || k == 0 {
        // The input is its own column matrix (or there is nothing to unfold: the output is 0).
        ConvAlgo::Gemm {
            im2col: false,
            chunk: at.n,
            scratch_elems: 0,
        }
    } else {
        let per_image = at.c_in.checked_mul(geom.taps().ok_or_else(overflow)?);
        let per_image = per_image
            .and_then(|x| x.checked_mul(p))
            .ok_or_else(overflow)?;
        let bytes = per_image
            .checked_mul(elem_bytes.max(1))
            .ok_or_else(overflow)?;
        let chunk = (SCRATCH_LIMIT_BYTES / bytes.max(1)).clamp(1, at.n);
        ConvAlgo::Gemm {
            im2col: true,
            chunk,
            scratch_elems: per_image.checked_mul(chunk).ok_or_else(overflow)?,
        }
    };
    Ok(ConvPlan {
        n: at.n,
        c_out: at.c_out,
        groups,
        geom,
        algo,
    })
}

impl ConvPlan {
    /// `(first image, images)` of each pass.
    pub fn chunks(&self) -> Vec<(usize, usize)> {
        let chunk = match self.algo {
            ConvAlgo::Gemm { chunk, .. } => chunk.max(1),
            _ => return Vec::new(),
        };
        (0..self.n)
            .step_by(chunk)
            .map(|first| (first, chunk.min(self.n - first)))
            .collect()
    }

    /// The GEMMs of one pass as one call batched over `[groups, images]`: `w` is shared by the
    /// images (stride 0), `col` is the scratch (im2col) or the input itself.
    pub fn gemm(&self, first: usize, images: usize) -> Option<GemmAt> {
        let g = &self.geom;
        let (cig, cog) = (g.c_in / self.groups, self.c_out / self.groups);
        let p = g.positions()?;
        let k = cig.checked_mul(g.taps()?)?;
        let im2col = matches!(self.algo, ConvAlgo::Gemm { im2col: true, .. });
        // im2col's scratch holds this pass's images from 0; the input starts at image `first`.
        let (b_offset, b_image) = match im2col {
            true => (0, g.c_in.checked_mul(g.taps()?)?.checked_mul(p)?),
            false => {
                let image = g.c_in.checked_mul(p)?;
                (first.checked_mul(image)?, image)
            }
        };
        let out_image = self.c_out.checked_mul(p)?;
        Some(GemmAt {
            batch: vec![self.groups, images],
            m: cog,
            n: p,
            k,
            a: MatrixAt {
                offset: 0,
                batch_strides: vec![cog.checked_mul(k)?, 0],
                row_stride: k,
                col_stride: 1,
            },
            b: MatrixAt {
                offset: b_offset,
                batch_strides: vec![k.checked_mul(p)?, b_image],
                row_stride: p,
                col_stride: 1,
            },
            c: MatrixAt {
                offset: first.checked_mul(out_image)?,
                batch_strides: vec![cog.checked_mul(p)?, out_image],
                row_stride: p,
                col_stride: 1,
            },
        })
    }
}

/// The elements one operand of `g` reaches plus one (0 when it touches none), `None` on
/// overflow: what a buffer must hold for a GEMM kiln built itself (convolutions).
pub fn reach(m: &MatrixAt, batch: &[usize], rows: usize, cols: usize) -> Option<usize> {
    if rows == 0 || cols == 0 || batch.contains(&0) {
        return Some(0);
    }
    let mut last = m.offset;
    let dims = batch
        .iter()
        .zip(&m.batch_strides)
        .chain([(&rows, &m.row_stride), (&cols, &m.col_stride)]);
    for (&d, &s) in dims {
        last = last.checked_add((d - 1).checked_mul(s)?)?;
    }
    last.checked_add(1)
}

#[cfg(test)]
mod tests;
