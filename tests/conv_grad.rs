//! The conv backward family (`convolution_backward_input` / `_weight`, issue 17): the compiled
//! CPU library steps against the reference interpreter (random shapes, strides, paddings
//! including asymmetric ones, dilations, groups, f32 and f64), the interpreter against a
//! hand-computed case, one compiled entry serving several batch and odd/even spatial sizes,
//! typed errors for mismatched shapes, and the text form's round trip. PyTorch autograd's
//! values are in `tests/fixtures/torch/conv_grad.json` (run by tests/torch_fixtures.rs).
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};
use proptest::prelude::*;

fn compiler(dir: &std::path::Path, policy: DynamicPolicy) -> Compiler {
    Compiler::new(CompileOptions::default().dynamic(policy).cache_dir(dir))
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
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
    Tensor::from_f64(dtype, shape, &values(seed, shape.iter().product()))
}

fn dims(shape: &[usize]) -> String {
    let v: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    v.join(", ")
}

/// Fails unless `got` and `want` agree within `tol` relative to `want`'s scale.
fn close(got: &[Tensor], want: &[Tensor], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert_eq!((a.dtype, &a.shape), (b.dtype, &b.shape), "{what}");
        let (a, b) = (a.to_f64(), b.to_f64());
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}\nelement {i}: compiled {x}, interpreter {y}"
            );
        }
    }
}

/// Compiles `src` (static shapes) and runs it and the interpreter on `inputs`.
fn agree(src: &str, inputs: &[Tensor], tol: f64) {
    let g = kiln::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path(), DynamicPolicy::Static)
        .compile(&g)
        .unwrap_or_else(|e| panic!("{e}\n{src}"));
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = f.run(&refs).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let want = kiln_ir::interpret(&g, inputs).unwrap_or_else(|e| panic!("{e}\n{src}"));
    close(&got, &want, tol, src);
}

#[test]
fn hand_computed_conv1d_gradients() {
    // y = conv1d(x, w) with x = [1, 2, 3], w = [1, -1]: y has 2 elements. For gy = [1, 2]:
    // gx[i] = sum_o gy[o] * w[i - o] = [1, 2 - 1, -2] and gw[k] = sum_o gy[o] * x[o + k] =
    // [1 + 4, 2 + 6].
    let src = "graph g\ninput x: f64[1, 1, 3]\ninput w: f64[1, 1, 2]\ninput gy: f64[1, 1, 2]\n\
               gx = convolution_backward_input(gy, w, x, stride=[1])\n\
               gw = convolution_backward_weight(gy, x, w, stride=[1])\noutput gx, gw\n";
    let g = kiln::parse(src).expect("parses");
    let t = |v: &[f64], shape: &[usize]| Tensor::from_f64(DType::F64, shape, v);
    let inputs = [
        t(&[1.0, 2.0, 3.0], &[1, 1, 3]),
        t(&[1.0, -1.0], &[1, 1, 2]),
        t(&[1.0, 2.0], &[1, 1, 2]),
    ];
    let out = kiln_ir::interpret(&g, &inputs).expect("interprets");
    assert_eq!(out[0].to_f64(), [1.0, 1.0, -2.0]);
    assert_eq!(out[1].to_f64(), [5.0, 8.0]);
    agree(src, &inputs, 0.0);
}

#[test]
fn strided_input_gradient_zeroes_the_dropped_rows() {
    // A 2x2 stride-2 convolution of a 5x5 input never reads row 4 or column 4: their
    // gradient is 0, and the result still has the input's 5x5 shape.
    let src = "graph g\ninput x: f32[1, 1, 5, 5]\ninput w: f32[1, 1, 2, 2]\n\
               input gy: f32[1, 1, 2, 2]\n\
               gx = convolution_backward_input(gy, w, x, stride=[2, 2])\noutput gx\n";
    let inputs = [
        tensor(DType::F32, &[1, 1, 5, 5], 1),
        Tensor::from_f64(DType::F32, &[1, 1, 2, 2], &[1.0; 4]),
        Tensor::from_f64(DType::F32, &[1, 1, 2, 2], &[1.0; 4]),
    ];
    let g = kiln::parse(src).expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path(), DynamicPolicy::Static)
        .compile(&g)
        .expect("compiles");
    let out = f.run(&[&inputs[0], &inputs[1], &inputs[2]]).expect("runs");
    assert_eq!(out[0].shape, [1, 1, 5, 5]);
    let v = out[0].to_f64();
    for (i, x) in v.iter().enumerate() {
        let (r, c) = (i / 5, i % 5);
        let want = if r == 4 || c == 4 { 0.0 } else { 1.0 };
        assert_eq!(*x, want, "row {r} col {c}");
    }
}

/// One compiled entry (dynamic N, H, W) serves two batch sizes and odd and even spatial
/// sizes (N >= 2: a dynamic size of 1 is specialised, as in PyTorch): `grad_output` is computed from the forward convolution, so its size is the same
/// expression as the one the backward ops expect and no size guard is needed.
#[test]
fn one_entry_for_several_batch_and_spatial_sizes() {
    let src = "graph g\ninput x: f32[N, 3, H, W]\ninput w: f32[4, 3, 3, 3]\n\
               y = convolution(x, w, stride=[2, 2], padding=[1, 1])\ngy = sin(y)\n\
               gx = convolution_backward_input(gy, w, x, stride=[2, 2], padding=[1, 1])\n\
               gw = convolution_backward_weight(gy, x, w, stride=[2, 2], padding=[1, 1])\n\
               output gx, gw\n";
    let g = kiln::parse(src).expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&g).expect("compiles");
    for (i, &(n, h, w)) in [(2, 7, 6), (3, 8, 9), (2, 5, 10)].iter().enumerate() {
        let inputs = [
            tensor(DType::F32, &[n, 3, h, w], i as u64),
            tensor(DType::F32, &[4, 3, 3, 3], 10 + i as u64),
        ];
        let got = f.run(&[&inputs[0], &inputs[1]]).expect("runs");
        let want = kiln_ir::interpret(&g, &inputs).expect("interprets");
        close(&got, &want, 1e-5, &format!("N={n} H={h} W={w}"));
    }
    let counters = c.counters();
    assert_eq!((counters.miss, counters.guard_miss), (1, 0), "{counters:?}");
    let guards = f.last_report().expect("a report").guards;
    assert!(
        !guards.contains("=="),
        "no size equality is guarded: {guards}"
    );
}

/// The error of parsing, compiling or running `src` on inputs of `shapes` (f32).
fn error_of(src: &str, shapes: &[&[usize]]) -> String {
    let g = match kiln::parse(src) {
        Ok(g) => g,
        Err(e) => return e.to_string(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let f = match compiler(dir.path(), DynamicPolicy::Static).compile(&g) {
        Ok(f) => f,
        Err(e) => return e.to_string(),
    };
    let inputs: Vec<Tensor> = shapes.iter().map(|s| tensor(DType::F32, s, 0)).collect();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    f.run(&refs).expect_err("a shape error").to_string()
}

#[test]
fn grad_output_of_the_wrong_size_is_a_typed_error() {
    let src = "graph g\ninput x: f32[1, 2, 7, 7]\ninput w: f32[3, 2, 3, 3]\n\
               input gy: f32[1, 3, 4, 5]\n\
               gx = convolution_backward_input(gy, w, x, stride=[2, 2])\noutput gx\n";
    let err = error_of(src, &[&[1, 2, 7, 7], &[3, 2, 3, 3], &[1, 3, 4, 5]]);
    assert!(
        err.contains("gx")
            && err.contains("grad_output has size 4 in dim 2")
            && err.contains("gives 3 there"),
        "{err}"
    );
}

#[test]
fn weight_gradient_with_mismatched_channels_is_a_typed_error() {
    let src = "graph g\ninput x: f32[1, 3, 5, 5]\ninput w: f32[4, 2, 3, 3]\n\
               input gy: f32[1, 4, 3, 3]\n\
               gw = convolution_backward_weight(gy, x, w, stride=[1, 1], groups=1)\n\
               output gw\n";
    let err = error_of(src, &[&[1, 3, 5, 5], &[4, 2, 3, 3], &[1, 4, 3, 3]]);
    assert!(
        err.contains("gw") && err.contains("input has 3 channels but weight expects 2"),
        "{err}"
    );
}

#[test]
fn grad_output_of_another_dtype_is_a_typed_error() {
    let src = "graph g\ninput x: f32[1, 1, 5]\ninput w: f32[1, 1, 3]\n\
               input gy: f64[1, 1, 3]\n\
               gw = convolution_backward_weight(gy, x, w, stride=[1])\noutput gw\n";
    let err = error_of(src, &[&[1, 1, 5], &[1, 1, 3], &[1, 1, 3]]);
    assert!(
        err.contains("gw") && err.contains("grad_output has dtype f64"),
        "{err}"
    );
}

#[test]
fn text_form_round_trips() {
    let src = "graph g\ninput x: f32[2, 4, 9, 8]\ninput w: f32[6, 2, 3, 2]\n\
               input gy: f32[2, 6, 4, 5]\n\
               gx = convolution_backward_input(gy, w, x, stride=[2, 2], padding=[1, 2, 1, 1], \
               dilation=[2, 2], groups=2)\n\
               gw = convolution_backward_weight(gy, x, w, stride=[2, 2], padding=[1, 2, 1, 1], \
               dilation=[2, 2], groups=2)\noutput gx, gw\n";
    let g = kiln::parse(src).expect("parses");
    let printed = kiln_ir::print(&g);
    let again = kiln::parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(kiln_ir::print(&again), printed);
    assert!(
        printed
            .contains("convolution_backward_weight(gy, x, w, stride=[2, 2], padding=[1, 2, 1, 1]"),
        "{printed}"
    );
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
    pad: [[usize; 2]; 2],
    dil: [usize; 2],
    one_d: bool,
    f64: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        (1usize..4, 1usize..4, 1usize..4, 1usize..4),
        ([1usize..10, 1usize..10], [1usize..4, 1usize..4]),
        (
            [1usize..4, 1usize..4],
            [[0usize..3, 0usize..3], [0usize..3, 0usize..3]],
            [1usize..3, 1usize..3],
        ),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((n, groups, cig, cog), (hw, k), (stride, pad, dil), (one_d, f64))| Shape {
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
                f64,
            },
        )
}

/// The graph of `s` and its input shapes, or `None` where the kernel does not fit.
fn graph(s: &Shape) -> Option<(String, Vec<Vec<usize>>)> {
    let sp = if s.one_d { 1 } else { 2 };
    let axes = 2 - sp..2;
    let mut out = Vec::new();
    for i in axes.clone() {
        let padded = s.hw[i] + s.pad[i][0] + s.pad[i][1];
        let span = s.dil[i] * (s.k[i] - 1) + 1;
        out.push(padded.checked_sub(span)? / s.stride[i] + 1);
    }
    let pick = |v: [usize; 2]| v[axes.clone()].to_vec();
    let xs = [vec![s.n, s.groups * s.cig], pick(s.hw)].concat();
    let ws = [vec![s.groups * s.cog, s.cig], pick(s.k)].concat();
    let ys = [vec![s.n, s.groups * s.cog], out].concat();
    let pad: Vec<usize> = s.pad[axes.clone()].iter().flatten().copied().collect();
    let kw = format!(
        "stride=[{}], padding=[{}], dilation=[{}], groups={}",
        dims(&pick(s.stride)),
        dims(&pad),
        dims(&pick(s.dil)),
        s.groups
    );
    let d = if s.f64 { "f64" } else { "f32" };
    let src = format!(
        "graph c\ninput x: {d}[{}]\ninput w: {d}[{}]\ninput gy: {d}[{}]\n\
         gx = convolution_backward_input(gy, w, x, {kw})\n\
         gw = convolution_backward_weight(gy, x, w, {kw})\noutput gx, gw\n",
        dims(&xs),
        dims(&ws),
        dims(&ys)
    );
    Some((src, vec![xs, ws, ys]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn random_conv_gradients_match_the_interpreter(s in shape(), seed in 0u64..1000) {
        if let Some((src, shapes)) = graph(&s) {
            let dtype = if s.f64 { DType::F64 } else { DType::F32 };
            let inputs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, sh)| tensor(dtype, sh, seed + i as u64))
                .collect();
            agree(&src, &inputs, if s.f64 { 1e-12 } else { 1e-5 });
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn fixture_tensor(v: &serde_json::Value) -> Tensor {
    Tensor {
        dtype: DType::parse(v["dtype"].as_str().expect("dtype")).expect("a kiln dtype"),
        shape: v["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect(),
        data: unhex(v["hex"].as_str().expect("hex")).into(),
    }
}

/// Whole backward graphs: `kiln::grad` of `sum(y * y)` for conv1d/conv2d (bias, stride,
/// "same" with an even kernel, groups, depthwise) and conv_transpose2d, compiled once under
/// the dynamic policy and run on two batch/spatial sizes; the gradients must equal PyTorch
/// autograd's exactly (integer inputs: every sum is exact).
#[test]
fn backward_graphs_match_torch_autograd() {
    let path = format!(
        "{}/tests/fixtures/torch/conv_grad_model.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    for case in doc["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let g = kiln::parse(case["graph"].as_str().expect("graph")).expect("parses");
        let wrt: Vec<&str> = case["wrt"]
            .as_array()
            .expect("wrt")
            .iter()
            .map(|w| w.as_str().expect("name"))
            .collect();
        let joint = kiln::grad(&g, &kiln::GradSpec::sum_of("z", &wrt)).expect("differentiates");
        let dir = tempfile::tempdir().expect("tempdir");
        let c = compiler(dir.path(), DynamicPolicy::Dynamic);
        let f = c.compile(&joint).expect("compiles");
        for (r, run) in case["runs"].as_array().expect("runs").iter().enumerate() {
            let inputs: Vec<Tensor> = run["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(fixture_tensor)
                .collect();
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let out = f.run(&refs).unwrap_or_else(|e| panic!("{name}: {e}"));
            let grads = &out[out.len() - wrt.len()..];
            for (i, want) in run["grads"].as_array().expect("grads").iter().enumerate() {
                let want = fixture_tensor(want);
                assert_eq!(grads[i].shape, want.shape, "{name} run {r} grad_{}", wrt[i]);
                assert_eq!(
                    grads[i].to_f64(),
                    want.to_f64(),
                    "{name} run {r}: grad_{}",
                    wrt[i]
                );
            }
        }
        let counters = c.counters();
        assert_eq!(
            counters.miss, 1,
            "{name}: one entry serves both runs: {counters:?}"
        );
    }
}
