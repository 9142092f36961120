//! The seed's `test_cache_load_model` with its real model: two `conv2d(k=3, stride=2,
//! bias=False)`, 3 -> 512 -> 512 channels, on (2, 3, 16, 16), f32 and f64, static and
//! dynamic: a cold compile misses, a fresh compiler on the same cache hits, both give the
//! same outputs, equal to PyTorch's (`tests/fixtures/torch/conv_model.json`, written by
//! `scripts/torch_fixtures_conv.py`). Under the dynamic policy one entry serves other batch
//! sizes and spatial sizes, and conv's output-size arithmetic records no guard.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Outcome, Tensor};
use serde_json::Value;

const MODEL: &str = "graph conv_model
input x: DT[XDIMS]
input w1: DT[512, 3, 3, 3]
input w2: DT[512, 512, 3, 3]
h = conv2d(x, w1, stride=2)
y = conv2d(h, w2, stride=2)
output y
";

/// `((i * 7919 + seed * 104729) % 2001) / 1000 - 1` divided by `scale`: the script computes
/// the same values, so the fixture holds only PyTorch's outputs.
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

fn torch_output(dtype: DType) -> Tensor {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch/conv_model.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let t = &doc[dtype.name()];
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
}

/// Fails unless `got` equals `want` within `tol` of the output's largest magnitude (the
/// summation orders differ: 4,608 products per output element).
fn close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!((got.dtype, &got.shape), (want.dtype, &want.shape), "{what}");
    let (g, w) = (got.to_f64(), want.to_f64());
    let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.1,
        "{what}: the outputs are not trivially small ({scale})"
    );
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}: element {i}: {a} vs PyTorch {b}"
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
    let dir = tempfile::tempdir().unwrap();
    let ins = inputs(dtype, 2, 16, 16);

    let f = compiler(dir.path(), policy).compile(&graph).unwrap();
    let first = run(&f, &ins);
    let miss = f.last_report().unwrap();
    assert_eq!(miss.outcome, Outcome::Miss, "{what}");

    // A fresh compiler on the same cache directory (a new process, as far as kiln knows).
    let fresh = compiler(dir.path(), policy);
    let g = fresh.compile(&graph).unwrap();
    let second = run(&g, &ins);
    let hit = g.last_report().unwrap();
    assert_eq!(hit.outcome, Outcome::Hit, "{what}");
    assert_eq!(hit.key, miss.key, "{what}");
    assert_eq!(
        first, second,
        "{what}: the cached program computes what the fresh one did"
    );

    let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
    close(&first[0], &torch_output(dtype), tol, &what);

    if policy == DynamicPolicy::Dynamic {
        // Only the sizes the two convolutions need: H, W >= 3 for the first, and the
        // first's output (H + 1)//2 - 1 >= 3 for the second.
        let guards = &miss.guards;
        assert!(
            guards == "H >= 3 and W >= 3 and (H + 1)//2 >= 4 and (W + 1)//2 >= 4",
            "{what}: {guards}"
        );
        // Other batch and spatial sizes: served by the same entry (no guard on the conv
        // output-size arithmetic, which holds for every H, W >= 2 under the env's ranges).
        g.reset();
        for (n, h, w) in [(3, 9, 11), (2, 7, 9)] {
            let ins = inputs(dtype, n, h, w);
            let out = run(&g, &ins);
            let report = g.last_report().unwrap();
            assert_eq!(report.key, miss.key, "{what} at {n}x{h}x{w}");
            assert!(
                matches!(report.outcome, Outcome::Hit | Outcome::Memory),
                "{what} at {n}x{h}x{w}: {:?}",
                report.outcome
            );
            let reference = kiln_ir::interpret(&graph, &ins).unwrap();
            close(
                &out[0],
                &reference[0],
                tol,
                &format!("{what} at {n}x{h}x{w}"),
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
fn conv_model_f32_static() {
    miss_reset_hit(DType::F32, DynamicPolicy::Static);
}

#[test]
fn conv_model_f32_dynamic() {
    miss_reset_hit(DType::F32, DynamicPolicy::Dynamic);
}

#[test]
fn conv_model_f64_static() {
    miss_reset_hit(DType::F64, DynamicPolicy::Static);
}

#[test]
fn conv_model_f64_dynamic() {
    miss_reset_hit(DType::F64, DynamicPolicy::Dynamic);
}
