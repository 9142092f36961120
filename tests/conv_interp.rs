//! Convolution through the compiled CPU program against the reference interpreter (random
//! shapes, strides, paddings, dilations, groups, size-1 and empty batches), and the
//! interpreter against hand-computed cases.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};
use proptest::prelude::*;

fn compile(
    src: &str,
    policy: DynamicPolicy,
) -> (kiln::Graph, kiln::CompiledFunction, tempfile::TempDir) {
    let g = kiln::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = CompileOptions::default()
        .dynamic(policy)
        .cache_dir(dir.path());
    let f = Compiler::new(opts)
        .compile(&g)
        .unwrap_or_else(|e| panic!("{e}\n{src}"));
    (g, f, dir)
}

/// Deterministic pseudo-random values in [-1, 1) (a small LCG: the test needs no crate).
fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_f64(dtype, shape, &values(seed, n))
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `src` compiled and interpreted on `inputs`; fails unless they agree within `tol`
/// relative to the output's scale.
fn agree(src: &str, inputs: &[Tensor], tol: f64, policy: DynamicPolicy) {
    let (g, f, _dir) = compile(src, policy);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = f.run(&refs).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let want = kiln_ir::interpret(&g, inputs).unwrap_or_else(|e| panic!("{e}\n{src}"));
    for (a, b) in got.iter().zip(&want) {
        assert_eq!((a.dtype, &a.shape), (b.dtype, &b.shape), "{src}");
        let (a, b) = (a.to_f64(), b.to_f64());
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{src}\nelement {i}: compiled {x}, interpreter {y}"
            );
        }
    }
}

fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-5,
        _ => 2e-2,
    }
}

#[test]
fn hand_computed_conv2d_with_padding_and_stride() {
    // x = 1..=16 as a 4x4 plane, w = ones(3x3), stride 2, padding 1: each output is the sum
    // of the in-bounds 3x3 window centred at (2i, 2j).
    let src = "graph c\ninput x: f64[1, 1, 4, 4]\ninput w: f64[1, 1, 3, 3]\n\
               y = conv2d(x, w, stride=2, padding=1)\noutput y\n";
    let x = Tensor::from_f64(
        DType::F64,
        &[1, 1, 4, 4],
        &(1..=16).map(f64::from).collect::<Vec<_>>(),
    );
    let w = Tensor::from_f64(DType::F64, &[1, 1, 3, 3], &[1.0; 9]);
    let g = kiln::parse(src).unwrap();
    let y = kiln_ir::interpret(&g, &[x.clone(), w.clone()]).unwrap();
    // (0,0): 1+2+5+6; (0,1): 2+3+4+6+7+8; (1,0): 5+6+9+10+13+14; (1,1): 6+7+8+10+11+12+14+15+16
    assert_eq!(y[0].shape, vec![1, 1, 2, 2]);
    assert_eq!(y[0].to_f64(), vec![14.0, 30.0, 57.0, 99.0]);
    agree(src, &[x, w], 1e-12, DynamicPolicy::Static);
}

#[test]
fn hand_computed_grouped_conv1d_with_bias_and_dilation() {
    // Two groups of one channel; kernel [1, -1] dilated 2: y[c, t] = x[c, t] - x[c, t + 2] + b[c].
    let src = "graph c\ninput x: f64[1, 2, 5]\ninput w: f64[2, 1, 2]\ninput b: f64[2]\n\
               y = conv1d(x, w, b, dilation=2, groups=2)\noutput y\n";
    let x = Tensor::from_f64(
        DType::F64,
        &[1, 2, 5],
        &[1., 2., 4., 8., 16., 0., 1., 0., 1., 0.],
    );
    let w = Tensor::from_f64(DType::F64, &[2, 1, 2], &[1., -1., 1., -1.]);
    let b = Tensor::from_f64(DType::F64, &[2], &[10., 20.]);
    let g = kiln::parse(src).unwrap();
    let y = kiln_ir::interpret(&g, &[x.clone(), w.clone(), b.clone()]).unwrap();
    assert_eq!(y[0].shape, vec![1, 2, 3]);
    assert_eq!(y[0].to_f64(), vec![7., 4., -2., 20., 20., 20.]);
    agree(src, &[x, w, b], 1e-12, DynamicPolicy::Static);
}

/// Depthwise convolutions (the phase-plane kernel) on planes wider than the random shapes:
/// odd and even widths at stride 2 (the even/odd column split), stride 3 with dilation (the
/// general split), asymmetric strides and a channel multiplier.
#[test]
fn depthwise_strides_paddings_and_dilations() {
    let cases = [
        // (c, multiplier, [h, w], [kh, kw], stride, padding, dilation)
        (6, 1, [13, 17], [3, 3], "2", "1", "1"),
        (4, 1, [16, 16], [3, 3], "2", "1", "1"),
        (3, 2, [11, 20], [5, 3], "[3, 2]", "[2, 1]", "[2, 1]"),
        (5, 1, [9, 31], [3, 5], "1", "[0, 2]", "[1, 2]"),
        (2, 1, [12, 12], [7, 7], "3", "3", "1"),
    ];
    for (i, (c, m, [h, w], [kh, kw], stride, pad, dil)) in cases.into_iter().enumerate() {
        let src = format!(
            "graph dw\ninput x: f32[2, {c}, {h}, {w}]\ninput w: f32[{}, 1, {kh}, {kw}]\n\
             y = conv2d(x, w, stride={stride}, padding={pad}, dilation={dil}, groups={c})\n\
             output y\n",
            c * m
        );
        let x = tensor(DType::F32, &[2, c, h, w], 10 + i as u64);
        let wt = tensor(DType::F32, &[c * m, 1, kh, kw], 20 + i as u64);
        agree(&src, &[x, wt], 1e-5, DynamicPolicy::Static);
    }
}

/// Bias, clamp and a residual add after a convolution run as its epilogue (on each part of
/// the output as it is computed): every algorithm (1x1, im2col at batch 1 in column chunks and
/// per image, grouped, depthwise, transposed), f64 and f16, static and dynamic, agrees with the
/// interpreter.
#[test]
fn convolution_epilogues_match_the_interpreter() {
    let cases = [
        // (dtype, n, c_in, c_out, hw, k, stride, pad, groups, transposed)
        (DType::F32, 1, 8, 16, 40, 1, 1, 0, 1, false),
        (DType::F32, 1, 4, 8, 33, 3, 1, 1, 1, false),
        (DType::F32, 3, 4, 8, 17, 3, 2, 1, 1, false),
        (DType::F32, 1, 4, 6, 20, 3, 1, 1, 2, false),
        (DType::F32, 2, 6, 6, 21, 3, 2, 1, 6, false),
        (DType::F32, 2, 4, 6, 9, 3, 2, 1, 1, true),
        (DType::F64, 1, 4, 8, 30, 3, 1, 1, 1, false),
        (DType::F16, 2, 4, 8, 12, 3, 1, 1, 1, false),
    ];
    for (i, (dtype, n, c_in, c_out, hw, k, stride, pad, groups, transposed)) in
        cases.into_iter().enumerate()
    {
        let (op, w_shape) = if transposed {
            ("conv_transpose2d", [c_in, c_out / groups, k, k])
        } else {
            ("conv2d", [c_out, c_in / groups, k, k])
        };
        let out_hw = if transposed {
            (hw - 1) * stride - 2 * pad + k
        } else {
            (hw + 2 * pad - k) / stride + 1
        };
        let src = format!(
            "graph epi\ninput x: {dtype}[N, {c_in}, {hw}, {hw}]\ninput w: {dtype}[{}]\n\
             input b: {dtype}[{c_out}]\ninput r: {dtype}[N, {c_out}, {out_hw}, {out_hw}]\n\
             y = {op}(x, w, b, stride={stride}, padding={pad}, groups={groups})\n\
             z = clamp(y, -0.5, 0.75)\no = add(z, r)\noutput o\n",
            dims(&w_shape)
        );
        let seed = 100 + 10 * i as u64;
        let inputs = [
            tensor(dtype, &[n, c_in, hw, hw], seed),
            tensor(dtype, &w_shape, seed + 1),
            tensor(dtype, &[c_out], seed + 2),
            tensor(dtype, &[n, c_out, out_hw, out_hw], seed + 3),
        ];
        for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
            agree(&src, &inputs, tolerance(dtype), policy);
        }
    }
}

#[test]
fn hand_computed_conv_transpose2d() {
    // One 2x2 input scattered by a 2x2 kernel at stride 2: each input element becomes a
    // 2x2 block `v * w`.
    let src = "graph c\ninput x: f64[1, 1, 2, 2]\ninput w: f64[1, 1, 2, 2]\n\
               y = conv_transpose2d(x, w, stride=2)\noutput y\n";
    let x = Tensor::from_f64(DType::F64, &[1, 1, 2, 2], &[1., 2., 3., 4.]);
    let w = Tensor::from_f64(DType::F64, &[1, 1, 2, 2], &[1., 10., 100., 1000.]);
    let g = kiln::parse(src).unwrap();
    let y = kiln_ir::interpret(&g, &[x.clone(), w.clone()]).unwrap();
    assert_eq!(y[0].shape, vec![1, 1, 4, 4]);
    #[rustfmt::skip]
    let want = vec![
        1., 10., 2., 20.,
        100., 1000., 200., 2000.,
        3., 30., 4., 40.,
        300., 3000., 400., 4000.,
    ];
    assert_eq!(y[0].to_f64(), want);
    agree(src, &[x, w], 1e-12, DynamicPolicy::Static);
}

#[test]
fn large_images_run_im2col_in_blocks() {
    // 64 channels x 3x3 taps x 60x122 outputs is more columns than one im2col block holds
    // (2^22 elements), so the CPU kernel runs several blocks of output rows.
    let src = "graph c\ninput x: f32[1, 64, 62, 124]\ninput w: f32[2, 64, 3, 3]\n\
               y = conv2d(x, w)\noutput y\n";
    let inputs = [
        tensor(DType::F32, &[1, 64, 62, 124], 5),
        tensor(DType::F32, &[2, 64, 3, 3], 6),
    ];
    agree(src, &inputs, 1e-5, DynamicPolicy::Static);
}

/// 3x3 stride-1 convolutions with channels and tiles enough for the Winograd kernel (at
/// least 16 channels each way, 48 2x2 output tiles): odd and non-square sizes (a last tile
/// half outside the output), paddings 0-2 per dim, batches of 1 to 3, both schedules (all tiles
/// at once, and blocks of tile rows), f32, f64 and bf16, with a bias-clamp-residual epilogue,
/// static and dynamic.
#[test]
fn winograd_convolutions_match_the_interpreter() {
    let cases = [
        // (dtype, n, c_in, c_out, [h, w], [pad_h, pad_w])
        (DType::F32, 1, 16, 16, [28, 28], [1, 1]),
        (DType::F32, 1, 17, 33, [31, 27], [0, 2]),
        (DType::F32, 3, 24, 16, [15, 20], [2, 1]),
        (DType::F64, 1, 16, 20, [29, 30], [1, 0]),
        (DType::BF16, 1, 16, 16, [28, 29], [1, 1]),
        // Past 4 MB of transformed data: blocks of tile rows, several per image.
        (DType::F32, 2, 64, 48, [61, 58], [1, 1]),
    ];
    for (i, (dtype, n, c_in, c_out, [h, w], [ph, pw])) in cases.into_iter().enumerate() {
        let (oh, ow) = (h + 2 * ph - 2, w + 2 * pw - 2);
        let src = format!(
            "graph wino\ninput x: {dtype}[N, {c_in}, {h}, {w}]\ninput w: {dtype}[{c_out}, {c_in}, 3, 3]\n\
             input b: {dtype}[{c_out}]\ninput r: {dtype}[N, {c_out}, {oh}, {ow}]\n\
             y = conv2d(x, w, b, padding=[{ph}, {pw}])\n\
             z = clamp(y, -2.0, 1.5)\no = add(z, r)\noutput o\n"
        );
        let seed = 500 + 10 * i as u64;
        let inputs = [
            tensor(dtype, &[n, c_in, h, w], seed),
            tensor(dtype, &[c_out, c_in, 3, 3], seed + 1),
            tensor(dtype, &[c_out], seed + 2),
            tensor(dtype, &[n, c_out, oh, ow], seed + 3),
        ];
        for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
            agree(&src, &inputs, tolerance(dtype), policy);
        }
    }
}

#[derive(Debug, Clone)]
struct Shape {
    n: usize,
    groups: usize,
    cig: usize,
    cog: usize,
    hw: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    one_d: bool,
    transposed: bool,
    dtype: DType,
}

fn shape() -> impl Strategy<Value = Shape> {
    let dtype = prop_oneof![
        Just(DType::F32),
        Just(DType::F64),
        Just(DType::F16),
        Just(DType::BF16)
    ];
    (
        (0usize..4, 1usize..4, 1usize..4, 1usize..4),
        ([1usize..9, 1usize..9], [1usize..4, 1usize..4]),
        (
            [1usize..4, 1usize..4],
            [0usize..3, 0usize..3],
            [1usize..3, 1usize..3],
        ),
        (any::<bool>(), prop::bool::weighted(0.25), dtype),
    )
        .prop_map(
            |((n, groups, cig, cog), (hw, k), (stride, pad, dil), (one_d, transposed, dtype))| {
                Shape {
                    n,
                    groups,
                    cig,
                    cog,
                    hw,
                    k,
                    stride,
                    pad,
                    dil,
                    one_d,
                    transposed: transposed && !one_d,
                    dtype,
                }
            },
        )
}

/// The graph of `s`, or `None` where the kernel does not fit (PyTorch refuses it).
fn graph(s: &Shape) -> Option<(String, Vec<usize>, Vec<usize>)> {
    let sp = if s.one_d { 1 } else { 2 };
    let c_in = s.groups * s.cig;
    let c_out = s.groups * s.cog;
    let sizes = |v: [usize; 2]| v[2 - sp..].to_vec();
    let (hw, k) = (sizes(s.hw), sizes(s.k));
    let list = |v: [usize; 2]| format!("[{}]", dims(&sizes(v)));
    let (xs, ws, call);
    if s.transposed {
        // output_padding < stride; pad <= dilation * (k - 1) keeps the output positive.
        xs = [vec![s.n, c_in], hw.clone()].concat();
        ws = [vec![c_in, s.cog], k.clone()].concat();
        let pad: Vec<usize> = (0..2)
            .map(|i| s.pad[i].min(s.dil[i] * (s.k[i] - 1)))
            .collect();
        let op: Vec<usize> = (0..2).map(|i| (s.pad[i] + 1) % s.stride[i]).collect();
        for i in 0..2 {
            let size = (hw[i] - 1) * s.stride[i] + s.dil[i] * (s.k[i] - 1) + op[i] + 1;
            if size < 2 * pad[i] + 1 {
                return None;
            }
        }
        call = format!(
            "conv_transpose2d(x, w, stride={}, padding=[{}], output_padding=[{}], groups={}, dilation={})",
            list(s.stride),
            dims(&pad),
            dims(&op),
            s.groups,
            list(s.dil)
        );
    } else {
        for i in 0..sp {
            if hw[i] + 2 * sizes(s.pad)[i] < sizes(s.dil)[i] * (k[i] - 1) + 1 {
                return None;
            }
        }
        xs = [vec![s.n, c_in], hw.clone()].concat();
        ws = [vec![c_out, s.cig], k.clone()].concat();
        call = format!(
            "conv{sp}d(x, w, stride={}, padding={}, dilation={}, groups={})",
            list(s.stride),
            list(s.pad),
            list(s.dil),
            s.groups
        );
    }
    let src = format!(
        "graph c\ninput x: {d}[{}]\ninput w: {d}[{}]\ny = {call}\noutput y\n",
        dims(&xs),
        dims(&ws),
        d = s.dtype
    );
    Some((src, xs, ws))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn random_convolutions_match_the_interpreter(s in shape(), seed in 0u64..1000) {
        if let Some((src, xs, ws)) = graph(&s) {
            let inputs = [tensor(s.dtype, &xs, seed), tensor(s.dtype, &ws, seed + 1)];
            agree(&src, &inputs, tolerance(s.dtype), DynamicPolicy::Static);
        }
    }
}
