//! Launch plans of convolutions: which algorithm, the GEMM each pass runs (checked against the
//! buffers it must stay inside) and the chunking of large batches.
use super::*;
use kiln_ir::DType;
use kiln_shape::Expr;

fn conv(
    spatial: usize,
    kernel: &[i64],
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    groups: i64,
) -> Conv {
    let e = |v: i64| Expr::int(v);
    Conv {
        name: "conv".into(),
        dtype: DType::F32,
        x: 0,
        w: 1,
        out: 2,
        n: e(0),
        c_in: e(0),
        c_out: e(0),
        spatial: vec![e(0); spatial],
        out_spatial: vec![e(0); spatial],
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        padding_end: padding.to_vec(),
        dilation: dilation.to_vec(),
        groups,
        transposed: false,
        output_padding: vec![0; spatial],
    }
}

fn at(n: usize, c_in: usize, c_out: usize, spatial: &[usize], out: &[usize]) -> ConvAt {
    ConvAt {
        n,
        c_in,
        c_out,
        spatial: spatial.to_vec(),
        out_spatial: out.to_vec(),
    }
}

/// Every pass's GEMM stays inside x (or the scratch), w and out.
fn assert_inside(p: &ConvPlan, x_elems: usize, w_elems: usize, out_elems: usize) {
    let (im2col, scratch) = match p.algo {
        ConvAlgo::Gemm {
            im2col,
            scratch_elems,
            ..
        } => (im2col, scratch_elems),
        _ => panic!("not a GEMM plan: {p:?}"),
    };
    let mut covered = 0;
    for (first, images) in p.chunks() {
        let g = p.gemm(first, images).expect("sizes fit");
        assert!(reach(&g.a, &g.batch, g.m, g.k).unwrap() <= w_elems);
        let b_room = if im2col { scratch } else { x_elems };
        assert!(reach(&g.b, &g.batch, g.k, g.n).unwrap() <= b_room);
        assert!(reach(&g.c, &g.batch, g.m, g.n).unwrap() <= out_elems);
        covered += images;
    }
    assert_eq!(covered, p.n);
}

#[test]
fn a_3x3_conv_unfolds_and_runs_one_strided_batched_gemm_per_group() {
    // (2, 4, 5, 5) * (6, 2, 3, 3), groups 2, padding 1.
    let c = conv(2, &[3, 3], &[1, 1], &[1, 1], &[1, 1], 2);
    let a = at(2, 4, 6, &[5, 5], &[5, 5]);
    let p = plan_conv(&c, &a, 4).unwrap();
    assert_eq!(
        p.algo,
        ConvAlgo::Gemm {
            im2col: true,
            chunk: 2,
            scratch_elems: 2 * 4 * 9 * 25
        }
    );
    let g = p.gemm(0, 2).unwrap();
    assert_eq!((g.m, g.n, g.k), (3, 25, 18));
    assert_eq!(g.batch, vec![2, 2]);
    assert_eq!(g.a.batch_strides, vec![3 * 18, 0]);
    assert_eq!(g.b.batch_strides, vec![18 * 25, 36 * 25]);
    assert_eq!(g.c.batch_strides, vec![3 * 25, 6 * 25]);
    assert_inside(&p, 2 * 4 * 25, 6 * 2 * 9, 2 * 6 * 25);
    let cublas = crate::cublas::plan_gemm(&g).unwrap();
    assert_eq!((cublas.batch_count, cublas.loops.len()), (2, 1));
}

#[test]
fn pointwise_convs_read_the_input_as_the_column_matrix() {
    let c = conv(2, &[1, 1], &[1, 1], &[0, 0], &[1, 1], 1);
    let a = at(3, 8, 16, &[7, 7], &[7, 7]);
    let p = plan_conv(&c, &a, 4).unwrap();
    assert!(matches!(p.algo, ConvAlgo::Gemm { im2col: false, .. }));
    let g = p.gemm(0, 3).unwrap();
    assert_eq!((g.m, g.n, g.k), (16, 49, 8));
    assert_inside(&p, 3 * 8 * 49, 16 * 8, 3 * 16 * 49);
    // Strided 1x1 convolutions still unfold (the input positions are not the output's).
    let c = conv(2, &[1, 1], &[2, 2], &[0, 0], &[1, 1], 1);
    let a = at(1, 8, 16, &[7, 7], &[4, 4]);
    assert!(matches!(
        plan_conv(&c, &a, 4).unwrap().algo,
        ConvAlgo::Gemm { im2col: true, .. }
    ));
}

#[test]
fn depthwise_convs_take_the_direct_kernel_and_1d_is_height_one() {
    let c = conv(2, &[3, 3], &[2, 2], &[1, 1], &[1, 1], 32);
    let a = at(1, 32, 64, &[9, 9], &[5, 5]);
    assert_eq!(plan_conv(&c, &a, 2).unwrap().algo, ConvAlgo::Depthwise);
    let c = conv(1, &[3], &[2], &[1], &[2], 1);
    let a = at(2, 3, 4, &[10], &[4]);
    let p = plan_conv(&c, &a, 8).unwrap();
    let g = &p.geom;
    assert_eq!((g.h, g.kh, g.sh, g.ph, g.dh, g.oh), (1, 1, 1, 0, 1, 1));
    assert_eq!((g.w, g.kw, g.sw, g.pw, g.dw, g.ow), (10, 3, 2, 1, 2, 4));
    assert_inside(&p, 2 * 3 * 10, 4 * 3 * 3, 2 * 4 * 4);
}

#[test]
fn large_batches_unfold_in_chunks_within_the_scratch_limit() {
    // One image's columns: 64 * 9 * 56 * 56 f32 = 7.2 MB; the limit holds 37 of them.
    let c = conv(2, &[3, 3], &[1, 1], &[1, 1], &[1, 1], 1);
    let a = at(100, 64, 64, &[56, 56], &[56, 56]);
    let p = plan_conv(&c, &a, 4).unwrap();
    let per_image = 64 * 9 * 56 * 56;
    let ConvAlgo::Gemm {
        chunk,
        scratch_elems,
        ..
    } = p.algo
    else {
        panic!("{p:?}")
    };
    assert_eq!(chunk, SCRATCH_LIMIT_BYTES / (per_image * 4));
    assert!(scratch_elems * 4 <= SCRATCH_LIMIT_BYTES);
    let chunks = p.chunks();
    assert_eq!(chunks.len(), 100usize.div_ceil(chunk));
    assert_eq!(chunks.last().unwrap().1, 100 - chunk * (chunks.len() - 1));
    assert_inside(&p, 100 * 64 * 56 * 56, 64 * 64 * 9, 100 * 64 * 56 * 56);
}

#[test]
fn empty_outputs_run_nothing_and_no_input_channels_is_a_k0_gemm() {
    let c = conv(2, &[3, 3], &[1, 1], &[0, 0], &[1, 1], 1);
    assert_eq!(
        plan_conv(&c, &at(0, 3, 4, &[5, 5], &[3, 3]), 4)
            .unwrap()
            .algo,
        ConvAlgo::Empty
    );
    assert_eq!(
        plan_conv(&c, &at(2, 3, 0, &[5, 5], &[3, 3]), 4)
            .unwrap()
            .algo,
        ConvAlgo::Empty
    );
    let p = plan_conv(&c, &at(2, 0, 4, &[5, 5], &[3, 3]), 4).unwrap();
    assert!(matches!(p.algo, ConvAlgo::Gemm { im2col: false, .. }));
    assert_eq!(p.gemm(0, 2).unwrap().k, 0);
    let bad = conv(2, &[3, 3], &[1, 1], &[0, 0], &[1, 1], 3);
    assert!(
        plan_conv(&bad, &at(1, 4, 6, &[5, 5], &[3, 3]), 4)
            .unwrap_err()
            .contains("groups")
    );
}

/// The im2col kernel's index arithmetic (`kernels/kiln_library.cuh`), on the host.
fn im2col(g: &Geometry, x: &[f64], x_off: usize, images: usize) -> Vec<f64> {
    let total = images * g.c_in * g.kh * g.kw * g.oh * g.ow;
    (0..total)
        .map(|i| {
            let mut t = i;
            let ow = t % g.ow;
            t /= g.ow;
            let oh = t % g.oh;
            t /= g.oh;
            let kw = t % g.kw;
            t /= g.kw;
            let kh = t % g.kh;
            t /= g.kh;
            let (c, img) = (t % g.c_in, t / g.c_in);
            let ih = (oh * g.sh + kh * g.dh) as i64 - g.ph as i64;
            let iw = (ow * g.sw + kw * g.dw) as i64 - g.pw as i64;
            if ih < 0 || iw < 0 || ih >= g.h as i64 || iw >= g.w as i64 {
                return 0.0;
            }
            x[x_off + ((img * g.c_in + c) * g.h + ih as usize) * g.w + iw as usize]
        })
        .collect()
}

/// PyTorch's convolution, directly (1-d as height 1).
fn direct(p: &ConvPlan, x: &[f64], w: &[f64]) -> Vec<f64> {
    let g = &p.geom;
    let (cig, cog) = (g.c_in / p.groups, p.c_out / p.groups);
    let mut out = vec![0.0; p.n * p.c_out * g.oh * g.ow];
    for (o, v) in out.iter_mut().enumerate() {
        let (ow, oh) = (o % g.ow, (o / g.ow) % g.oh);
        let (oc, n) = ((o / (g.ow * g.oh)) % p.c_out, o / (g.ow * g.oh * p.c_out));
        for ci in 0..cig {
            for kh in 0..g.kh {
                for kw in 0..g.kw {
                    let ih = (oh * g.sh + kh * g.dh) as i64 - g.ph as i64;
                    let iw = (ow * g.sw + kw * g.dw) as i64 - g.pw as i64;
                    if ih < 0 || iw < 0 || ih >= g.h as i64 || iw >= g.w as i64 {
                        continue;
                    }
                    let ic = (oc / cog) * cig + ci;
                    *v += x[((n * g.c_in + ic) * g.h + ih as usize) * g.w + iw as usize]
                        * w[((oc * cig + ci) * g.kh + kh) * g.kw + kw];
                }
            }
        }
    }
    out
}

/// The plan's passes (im2col, then each pass's GEMM through the emulated cuBLAS plan) give
/// the direct convolution, with the batch split into passes of `chunk` images.
fn assert_passes_compute(c: &Conv, a: &ConvAt, chunk: usize) {
    let mut p = plan_conv(c, a, 4).unwrap();
    if let ConvAlgo::Gemm {
        chunk: ch,
        scratch_elems,
        im2col,
    } = &mut p.algo
    {
        if *im2col {
            *scratch_elems = *scratch_elems / *ch * chunk;
        }
        *ch = chunk;
    }
    let g = p.geom.clone();
    let fill = |n: usize, s: usize| {
        (0..n)
            .map(|i| (((i * 5 + s) % 11) as f64 - 5.0) / 4.0)
            .collect::<Vec<_>>()
    };
    let x = fill(p.n * g.c_in * g.h * g.w, 1);
    let w = fill(p.c_out * (g.c_in / p.groups) * g.kh * g.kw, 2);
    let mut out = vec![f64::NAN; p.n * p.c_out * g.oh * g.ow];
    let im2col_on = matches!(p.algo, ConvAlgo::Gemm { im2col: true, .. });
    for (first, images) in p.chunks() {
        let cols = match im2col_on {
            true => im2col(&g, &x, first * g.c_in * g.h * g.w, images),
            false => x.clone(),
        };
        let gemm = p.gemm(first, images).unwrap();
        let plan = crate::cublas::plan_gemm(&gemm).unwrap();
        crate::cublas::plan::emulate_for_tests(&plan, [&w, &cols], &mut out);
    }
    assert_eq!(out, direct(&p, &x, &w), "{p:?}");
}

#[test]
fn the_passes_compute_the_convolution_when_cublas_is_emulated() {
    let cases = [
        (
            conv(2, &[3, 3], &[1, 1], &[1, 1], &[1, 1], 1),
            at(3, 3, 4, &[5, 6], &[5, 6]),
        ),
        (
            conv(2, &[3, 2], &[2, 3], &[2, 1], &[2, 1], 2),
            at(2, 4, 6, &[9, 8], &[5, 3]),
        ),
        (
            conv(2, &[1, 1], &[1, 1], &[0, 0], &[1, 1], 1),
            at(3, 8, 5, &[5, 4], &[5, 4]),
        ),
        (
            conv(2, &[1, 1], &[2, 2], &[0, 0], &[1, 1], 1),
            at(2, 8, 5, &[5, 4], &[3, 2]),
        ),
        (conv(1, &[3], &[2], &[1], &[2], 1), at(3, 3, 5, &[11], &[5])),
        (conv(1, &[2], &[1], &[0], &[1], 3), at(2, 6, 3, &[8], &[7])),
    ];
    for (c, a) in &cases {
        for chunk in [1, 2, a.n] {
            assert_passes_compute(c, a, chunk);
        }
    }
}
