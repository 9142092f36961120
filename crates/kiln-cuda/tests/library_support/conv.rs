//! Convolution programs of the library tests and their f64 reference.
use kiln_ir::DType;
use kiln_sched::{BufKind, Conv, LibraryCall, Program, Step};
use kiln_shape::Expr;

use super::{decl, flat};

#[derive(Debug, Clone)]
pub struct ConvCase {
    pub name: String,
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub spatial: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
}

impl ConvCase {
    pub fn out_spatial(&self) -> Vec<usize> {
        (0..self.spatial.len())
            .map(|d| {
                let span = self.dilation[d] * (self.kernel[d] - 1) + 1;
                (self.spatial[d] + 2 * self.padding[d] - span) / self.stride[d] + 1
            })
            .collect()
    }
    pub fn x_numel(&self) -> usize {
        self.n * self.c_in * self.spatial.iter().product::<usize>()
    }
    pub fn w_numel(&self) -> usize {
        self.c_out * (self.c_in / self.groups) * self.kernel.iter().product::<usize>()
    }
    pub fn out_numel(&self) -> usize {
        self.n * self.c_out * self.out_spatial().iter().product::<usize>()
    }
}

pub fn conv_cases() -> Vec<ConvCase> {
    let c = |name: &str,
             n,
             c_in,
             c_out,
             spatial: &[usize],
             kernel: &[usize],
             stride: &[usize],
             padding: &[usize],
             dilation: &[usize],
             groups| ConvCase {
        name: name.to_string(),
        n,
        c_in,
        c_out,
        spatial: spatial.to_vec(),
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        dilation: dilation.to_vec(),
        groups,
    };
    vec![
        c(
            "conv2d_3x3_pad",
            2,
            3,
            4,
            &[7, 6],
            &[3, 3],
            &[1, 1],
            &[1, 1],
            &[1, 1],
            1,
        ),
        c(
            "conv2d_stride_dilation",
            2,
            4,
            6,
            &[9, 8],
            &[3, 2],
            &[2, 3],
            &[2, 1],
            &[2, 1],
            2,
        ),
        c(
            "conv2d_1x1",
            3,
            8,
            5,
            &[5, 4],
            &[1, 1],
            &[1, 1],
            &[0, 0],
            &[1, 1],
            1,
        ),
        c(
            "conv2d_1x1_stride2",
            1,
            8,
            5,
            &[5, 4],
            &[1, 1],
            &[2, 2],
            &[0, 0],
            &[1, 1],
            1,
        ),
        c(
            "depthwise_mult2",
            2,
            4,
            8,
            &[6, 7],
            &[3, 3],
            &[2, 1],
            &[1, 1],
            &[1, 2],
            4,
        ),
        c("conv1d", 2, 3, 5, &[11], &[3], &[2], &[1], &[2], 1),
        c("conv1d_groups", 1, 6, 3, &[8], &[2], &[1], &[0], &[1], 3),
        c(
            "conv2d_no_input_channels",
            2,
            0,
            3,
            &[4, 4],
            &[3, 3],
            &[1, 1],
            &[1, 1],
            &[1, 1],
            1,
        ),
    ]
}

pub fn conv_program(c: &ConvCase, dtype: DType) -> Program {
    let e = |x: usize| Expr::int(x as i64);
    let ints = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let call = LibraryCall::Conv(Box::new(Conv {
        name: "conv".into(),
        dtype,
        x: 0,
        w: 1,
        out: 2,
        n: e(c.n),
        c_in: e(c.c_in),
        c_out: e(c.c_out),
        spatial: c.spatial.iter().map(|&d| e(d)).collect(),
        out_spatial: c.out_spatial().into_iter().map(e).collect(),
        kernel: ints(&c.kernel),
        stride: ints(&c.stride),
        padding: ints(&c.padding),
        padding_end: ints(&c.padding),
        dilation: ints(&c.dilation),
        groups: c.groups as i64,
        transposed: false,
        output_padding: vec![0; c.spatial.len()],
    }));
    Program {
        graph_name: c.name.clone(),
        symbols: Vec::new(),
        inputs: vec![flat("x", dtype, c.x_numel()), flat("w", dtype, c.w_numel())],
        outputs: vec![(flat("out", dtype, c.out_numel()), 2)],
        buffers: vec![
            decl(dtype, c.x_numel(), BufKind::Input(0)),
            decl(dtype, c.w_numel(), BufKind::Input(1)),
            decl(dtype, c.out_numel(), BufKind::Output(0)),
        ],
        kernels: Vec::new(),
        steps: vec![Step::Library(Box::new(call))],
    }
}

/// PyTorch's conv1d/conv2d without bias, in f64, on contiguous x and w (1-d as height 1).
pub fn conv_reference(c: &ConvCase, x: &[f64], w: &[f64]) -> Vec<f64> {
    let two = |v: &[usize], pad: usize| {
        if v.len() == 1 {
            (pad, v[0])
        } else {
            (v[0], v[1])
        }
    };
    let (h, wd) = two(&c.spatial, 1);
    let (kh, kw) = two(&c.kernel, 1);
    let (sh, sw) = two(&c.stride, 1);
    let (ph, pw) = two(&c.padding, 0);
    let (dh, dw) = two(&c.dilation, 1);
    let (oh, ow) = two(&c.out_spatial(), 1);
    let (cig, cog) = (c.c_in / c.groups, c.c_out / c.groups);
    let mut out = vec![0.0; c.out_numel()];
    for n in 0..c.n {
        for oc in 0..c.c_out {
            let g = oc / cog;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = 0.0;
                    for ci in 0..cig {
                        let ic = g * cig + ci;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * sh + i * dh) as i64 - ph as i64;
                                let ix = (xo * sw + j * dw) as i64 - pw as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= wd as i64 {
                                    continue;
                                }
                                let xi = ((n * c.c_in + ic) * h + iy as usize) * wd + ix as usize;
                                let wi = ((oc * cig + ci) * kh + i) * kw + j;
                                acc += x[xi] * w[wi];
                            }
                        }
                    }
                    out[((n * c.c_out + oc) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    out
}
