//! The seed's `test_cache_load_model`, whole: the gradients of `sum(conv2(conv1(x)))` for
//! both weights of the seed's two convolutions (3 -> 512 -> 512 channels, k=3, stride 2,
//! no bias) on (2, 3, 16, 16), f32 and f64, static and dynamic. The joint graph
//! (`kiln_grad::grad`) misses cold, a fresh compiler on the same cache directory hits, both
//! give the same gradients, equal to PyTorch autograd's (`tests/fixtures/torch/
//! conv_model_grad.json`, written by `scripts/torch_fixtures_autograd.py`; the inputs are
//! `tests/conv_model.rs`'s).
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Outcome, Tensor};
use kiln_grad::{GradSpec, grad};
use serde_json::Value;

const MODEL: &str = "graph conv_model
input x: DT[XDIMS]
input w1: DT[512, 3, 3, 3]
input w2: DT[512, 512, 3, 3]
h = conv2d(x, w1, stride=2)
y = conv2d(h, w2, stride=2)
output y
";

/// `((i * 7919 + seed * 104729) % 2001) / 1000 - 1` divided by `scale`, as in
/// `tests/conv_model.rs` and the script.
fn values(dtype: DType, shape: &[usize], seed: u64, scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n as u64)
        .map(|i| (((i * 7919 + seed * 104729) % 2001) as f64 / 1000.0 - 1.0) / scale)
        .collect();
    Tensor::from_f64(dtype, shape, &v)
}

fn inputs(dtype: DType, n: usize, h: usize, w: usize) -> Vec<Tensor> {
    vec![
        values(dtype, &[n, 3, h, w], 1, 1.0),
        values(dtype, &[512, 3, 3, 3], 2, 4.0),
        values(dtype, &[512, 512, 3, 3], 3, 64.0),
    ]
}

/// PyTorch's `grad_w1` and row 0 of `grad_w2` (every row of it is the same: the cotangent
/// is all ones).
fn torch_grads(dtype: DType) -> (Vec<f64>, Vec<f64>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch/conv_model_grad.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let decode = |t: &Value| {
        let hex = t["hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        Tensor {
            dtype,
            shape,
            data: bytes.into(),
        }
        .to_f64()
    };
    let d = &doc[dtype.name()];
    (decode(&d["grad_w1"]), decode(&d["grad_w2_row0"]))
}

/// Fails unless `got` equals `want` within `tol` of `want`'s largest magnitude.
fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.1,
        "{what}: the gradients are not trivially small ({scale})"
    );
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}: element {i}: {a} vs {b}"
        );
    }
}

fn compiler(dir: &std::path::Path, policy: DynamicPolicy) -> Compiler {
    Compiler::new(CompileOptions::default().cache_dir(dir).dynamic(policy))
}

fn run(f: &kiln::CompiledFunction, inputs: &[Tensor]) -> Vec<Tensor> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    f.run(&refs).unwrap()
}

fn miss_reset_hit(dtype: DType, policy: DynamicPolicy) {
    let what = format!("{dtype} {policy:?}");
    let dims = match policy {
        DynamicPolicy::Static => "2, 3, 16, 16",
        _ => "N, 3, H, W",
    };
    let graph = kiln::parse(&MODEL.replace("DT", dtype.name()).replace("XDIMS", dims)).unwrap();
    let joint = grad(&graph, &GradSpec::sum_of("y", &["w1", "w2"])).unwrap();
    assert_eq!(joint.output_names(), ["y", "grad_w1", "grad_w2"], "{what}");
    let dir = tempfile::tempdir().unwrap();
    let ins = inputs(dtype, 2, 16, 16);

    let f = compiler(dir.path(), policy).compile(&joint).unwrap();
    let first = run(&f, &ins);
    let miss = f.last_report().unwrap();
    assert_eq!(miss.outcome, Outcome::Miss, "{what}");

    // Reset: a fresh compiler on the same cache directory (a new process, as far as kiln
    // knows) loads the joint graph's entry.
    let fresh = compiler(dir.path(), policy);
    let g = fresh.compile(&joint).unwrap();
    let second = run(&g, &ins);
    let hit = g.last_report().unwrap();
    assert_eq!(hit.outcome, Outcome::Hit, "{what}");
    assert_eq!(hit.key, miss.key, "{what}");
    assert_eq!(
        first, second,
        "{what}: the cached program computes the same gradients"
    );

    // PyTorch's gradients (different summation orders over 512 x 9 x 2 x 8 x 8 products).
    let tol = if dtype == DType::F64 { 1e-11 } else { 2e-5 };
    let (w1, w2_row) = torch_grads(dtype);
    close(&first[1].to_f64(), &w1, tol, &format!("{what} grad_w1"));
    assert_eq!(first[2].shape, [512, 512, 3, 3], "{what}");
    let gw2 = first[2].to_f64();
    for (o, row) in gw2.chunks(w2_row.len()).enumerate() {
        close(row, &w2_row, tol, &format!("{what} grad_w2[{o}]"));
    }

    if policy == DynamicPolicy::Dynamic {
        // Another batch and spatial size: the same entry, gradients as the interpreter's.
        g.reset();
        let ins = inputs(dtype, 3, 9, 11);
        let out = run(&g, &ins);
        let report = g.last_report().unwrap();
        assert_eq!(report.key, miss.key, "{what} at 3x9x11");
        assert_eq!(report.outcome, Outcome::Hit, "{what} at 3x9x11");
        let reference = kiln_ir::interpret(&joint, &ins).unwrap();
        for (k, name) in [(1, "grad_w1"), (2, "grad_w2")] {
            close(
                &out[k].to_f64(),
                &reference[k].to_f64(),
                tol,
                &format!("{what} {name} at 3x9x11"),
            );
        }
        let counters = fresh.counters();
        assert_eq!(
            counters.miss + counters.guard_miss,
            0,
            "{what}: {counters:?}"
        );
    }
}

#[test]
fn conv_model_grad_f32_static() {
    miss_reset_hit(DType::F32, DynamicPolicy::Static);
}

#[test]
fn conv_model_grad_f32_dynamic() {
    miss_reset_hit(DType::F32, DynamicPolicy::Dynamic);
}

#[test]
fn conv_model_grad_f64_static() {
    miss_reset_hit(DType::F64, DynamicPolicy::Static);
}

#[test]
fn conv_model_grad_f64_dynamic() {
    miss_reset_hit(DType::F64, DynamicPolicy::Dynamic);
}
