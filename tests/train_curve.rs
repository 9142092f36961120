//! The two-spirals MLP (`kiln_suite::train`) trained through `kiln::Trainer` from PyTorch's
//! initial weights on PyTorch's data: the loss of every step matches PyTorch's curve, stored
//! by `scripts/train_reference.py` in `tests/fixtures/torch/train_mlp.json` (no Python here).
//!
//! Tolerance: both train in f32 but sum in different orders (kiln's GEMM and reductions vs
//! PyTorch's), so the parameters drift apart by rounding, a few ulps per step, compounded by
//! 300 momentum steps. A step's loss may differ by `ABS + REL * |torch|`; a wrong gradient or
//! update (a missed term, a wrong sign, momentum applied twice) moves it by far more within
//! the first steps.
use kiln::{CompileOptions, Compiler, Tensor};
use kiln_suite::train;
use serde_json::Value;

const ABS: f64 = 1e-4;
const REL: f64 = 1e-3;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch/train_mlp.json"
    );
    let text =
        std::fs::read_to_string(path).expect("fixture written by scripts/train_reference.py");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    let list = v.as_array().expect("a list of numbers");
    list.iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

#[test]
fn fixture_uses_the_shared_model_and_data() {
    let f = fixture();
    assert_eq!(f["points_per_class"], train::POINTS_PER_CLASS);
    assert_eq!(f["hidden"], train::HIDDEN);
    assert_eq!(f["batch"], train::BATCH);
    assert_eq!(f["steps"], train::STEPS);
    assert_eq!(f["lr"].as_f64(), Some(train::LR));
    assert_eq!(f["momentum"].as_f64(), Some(train::MOMENTUM));
    let (x, labels) = train::spirals();
    let want = floats(&f["x"]);
    assert_eq!(x.len(), want.len());
    for (k, (a, b)) in x.iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-6, "x[{k}]: kiln_suite {a}, fixture {b}");
    }
    let want: Vec<usize> = f["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(labels, want);
}

#[test]
fn loss_curve_matches_pytorch() {
    let f = fixture();
    let params: Vec<(String, Tensor)> = train::PARAMS
        .iter()
        .map(|&name| {
            let p = &f["params"][name];
            let shape: Vec<usize> = p["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (
                name.to_string(),
                Tensor::from_f32(&shape, &floats(&p["values"])),
            )
        })
        .collect();
    let x = floats(&f["x"]);
    let labels: Vec<usize> = f["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let batches = train::batches(&x, &labels);
    let graph = kiln::parse(&train::mlp_text(train::HIDDEN)).unwrap();
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let mut trainer = compiler
        .trainer(&graph, &train::train_spec(), params)
        .expect("the step graph builds");
    let want: Vec<f64> = f["loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mut got = Vec::with_capacity(want.len());
    for step in 0..want.len() {
        let (x, t) = &batches[step % batches.len()];
        got.push(trainer.step(&[x, t]).expect("a step runs"));
    }
    let mut worst = (0, 0.0);
    for (step, (g, w)) in got.iter().zip(&want).enumerate() {
        let excess = (g - w).abs() / (ABS + REL * w.abs());
        if excess > worst.1 {
            worst = (step, excess);
        }
    }
    let (step, excess) = worst;
    let max_diff = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "largest |kiln - PyTorch| over {} steps: {max_diff:.3e}",
        got.len()
    );
    assert!(
        excess <= 1.0,
        "step {step}: kiln loss {}, PyTorch {} (|diff| is {excess:.2}x the tolerance)",
        got[step],
        want[step]
    );
    // The comparison means something only if training moved: PyTorch's loss falls by half.
    let head: f64 = want[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = want[want.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(
        tail < 0.6 * head,
        "the reference curve does not fall: {head} -> {tail}"
    );
}
