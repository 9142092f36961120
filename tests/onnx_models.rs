//! Models exported by `torch.onnx.export` with a dynamic batch dim (ResNet-18-, MobileNetV2-
//! and SqueezeNet-like CNNs and a BERT-style encoder layer whose head split is a
//! `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` subgraph), imported by kiln and compared
//! with ONNX Runtime's outputs on random inputs, all from one compiled function:
//! `scripts/onnx_export_models.py` writes the models and ONNX Runtime's results for batch 1, 3
//! and 8 (`.ci/run` runs it first); without them the test skips with one line.
//!
//! Sizes 0 and 1 are always specialised (as PyTorch does), so batch 1 is its own entry; batch
//! 3 compiles the symbolic entry and batch 8 is served by that same entry (its guards pass,
//! no compile); a fresh process then hits the cache for batch 8.
#[path = "skip_support/mod.rs"]
mod skip_support;

use std::path::{Path, PathBuf};

use kiln::{CompileOptions, Compiler, Outcome, Tensor};

const MODELS: [&str; 4] = ["resnet18", "mobilenet_v2", "squeezenet", "bert_layer"];
const CHILD_ENV: &str = "KILN_ONNX_FRESH_CHILD";

fn models_dir() -> PathBuf {
    std::env::var_os("KILN_ONNX_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("onnx-models"))
}

/// Max |a - b| over |b| + 1 (relative for large values, absolute near 0).
fn max_err(found: &Tensor, expected: &Tensor) -> f64 {
    assert_eq!(found.shape, expected.shape, "output shape");
    found
        .to_f64()
        .iter()
        .zip(expected.to_f64())
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f64::max)
}

fn case(dir: &Path, model: &str, batch: usize) -> (Tensor, Tensor) {
    let d = dir.join(model).join(format!("b{batch}"));
    let load = |f: &str| kiln_onnx::load_tensor(d.join(f)).expect("test data");
    (load("input_0.pb"), load("output_0.pb"))
}

/// Runs `model` at `batch` and checks it against ONNX Runtime; returns how the call found its
/// code (`None`: served by an in-memory specialisation, no new report).
fn run_batch(dir: &Path, name: &str, model: &kiln::Model, batch: usize) -> Option<Outcome> {
    let (x, expected) = case(dir, name, batch);
    let out = model.run(&[&x]).expect("kiln run");
    let err = max_err(&out[0], &expected);
    assert!(
        err < 1e-3,
        "{name} batch {batch}: max error {err} vs ONNX Runtime"
    );
    model.function().last_report().map(|r| r.outcome)
}

#[test]
fn exported_models_match_onnx_runtime_with_one_entry_for_batches_above_one() {
    let dir = models_dir();
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // the fresh process of `fresh_process_child`
    }
    if !MODELS
        .iter()
        .all(|m| dir.join(format!("{m}.onnx")).exists())
    {
        skip_support::skip(&format!(
            "no exported models in {} (python3 scripts/onnx_export_models.py DIR needs torch and onnxruntime)",
            dir.display()
        ));
        return;
    }
    for name in MODELS {
        let cache = tempfile::tempdir().unwrap();
        let m = kiln_onnx::load(dir.join(format!("{name}.onnx"))).expect("import");
        let compiler = Compiler::new(CompileOptions::default().cache_dir(cache.path()));
        let f = compiler.compile(&m.graph).expect("compile");
        let model = f.bind(m.params).expect("bind");
        let b1 = run_batch(&dir, name, &model, 1);
        assert_eq!(b1, Some(Outcome::Miss), "{name}: batch 1 compiles");
        let b3 = run_batch(&dir, name, &model, 3);
        // Batch 1's specialisation has its own key, so the symbolic entry is a plain miss.
        assert!(
            matches!(b3, Some(Outcome::Miss | Outcome::GuardMiss)),
            "{name}: batch 3 compiles the symbolic entry, found {b3:?}"
        );
        let b3_report = model.function().last_report().expect("report");
        run_batch(&dir, name, &model, 8);
        let b8_report = model.function().last_report().expect("report");
        // No new report: the specialisation batch 3 compiled served batch 8 (its guards held).
        let same = |r: &kiln::CompileReport| (r.outcome.clone(), r.key, r.compile_ms.to_bits());
        assert_eq!(
            same(&b8_report),
            same(&b3_report),
            "{name}: batch 8 is served by batch 3's entry, no new specialisation"
        );
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["fresh_process_child", "--exact", "--nocapture"])
            .env(CHILD_ENV, format!("{}|{name}", cache.path().display()))
            .env("KILN_ONNX_MODELS", &dir)
            .status()
            .expect("spawn the fresh process");
        assert!(status.success(), "{name}: the fresh process failed");
    }
}

/// In a fresh process (spawned by the test above): batch 8 hits the cache entry batch 3 wrote.
#[test]
fn fresh_process_child() {
    let Some(arg) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let arg = arg.into_string().unwrap();
    let (cache, name) = arg.split_once('|').unwrap();
    let dir = models_dir();
    let m = kiln_onnx::load(dir.join(format!("{name}.onnx"))).expect("import");
    let compiler = Compiler::new(CompileOptions::default().cache_dir(cache));
    let model = compiler.compile(&m.graph).unwrap().bind(m.params).unwrap();
    let outcome = run_batch(&dir, name, &model, 8);
    assert_eq!(
        outcome,
        Some(Outcome::Hit),
        "{name}: a fresh process hits for batch 8"
    );
}
