//! kiln's gradients against PyTorch autograd's: `tests/fixtures/torch/autograd.json`
//! (written by `scripts/torch_fixtures_autograd.py`) holds, per differentiable op, a small
//! f64 graph, its inputs and the gradients of `y.sum()` PyTorch computes, including its
//! conventions at kinks and ties. The joint graph runs on the reference interpreter.
use kiln_grad::{GradSpec, grad};
use kiln_ir::{DType, Tensor, interpret, parse};
use serde_json::Value;

/// Cases where kiln knowingly differs from PyTorch (what would fix it), run by the ignored
/// `known_differences_match_pytorch`.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // kiln builds max(x, dim)'s values as amax, whose rule splits a tie evenly (as
    // torch.amax does); PyTorch routes it to the index max returns.
    ("max_dim_ties", "max(dim) values as gather(x, dim, indices)"),
];

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/torch/autograd.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture exists"))
        .expect("the fixture is JSON")
}

fn decode(t: &Value) -> Tensor {
    let dtype = match t["dtype"].as_str().unwrap() {
        "f64" => DType::F64,
        "f32" => DType::F32,
        other => panic!("fixture dtype {other}"),
    };
    let hex = t["hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let shape = t["shape"]
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

/// The first element where `got` and `want` differ by more than `rtol` of the larger
/// magnitude (or of the tensor's largest, for values near 0); infinities and NaNs must match.
fn mismatch(got: &Tensor, want: &Tensor, rtol: f64) -> Option<String> {
    if got.shape != want.shape {
        return Some(format!("shape {:?}, PyTorch {:?}", got.shape, want.shape));
    }
    let (g, w) = (got.to_f64(), want.to_f64());
    let scale = w
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f64, |m, v| m.max(v.abs()));
    g.iter().zip(&w).enumerate().find_map(|(i, (a, b))| {
        let same = if a.is_finite() && b.is_finite() {
            (a - b).abs() <= rtol * (a.abs().max(b.abs()) + scale)
        } else {
            a == b || (a.is_nan() && b.is_nan())
        };
        (!same).then(|| format!("element {i}: kiln {a}, PyTorch {b}"))
    })
}

/// Runs one case; the description of every disagreement.
fn run_case(case: &Value) -> Vec<String> {
    let name = case["name"].as_str().unwrap();
    let text = case["graph"].as_str().unwrap();
    let rtol = case["rtol"].as_f64().unwrap();
    let wrt: Vec<&str> = case["wrt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let inputs: Vec<Tensor> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(decode)
        .collect();
    let g = parse(text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    let joint = match grad(&g, &GradSpec::sum_of("y", &wrt)) {
        Ok(j) => j,
        Err(e) => return vec![format!("{name}: grad: {e}")],
    };
    let outs = match interpret(&joint, &inputs) {
        Ok(o) => o,
        Err(e) => return vec![format!("{name}: the joint graph: {e}")],
    };
    let mut errors = Vec::new();
    if let Some(m) = mismatch(&outs[0], &decode(&case["output"]), rtol) {
        errors.push(format!("{name}: forward y: {m}"));
    }
    let grads = &outs[outs.len() - wrt.len()..];
    for ((w, got), want) in wrt.iter().zip(grads).zip(case["grads"].as_array().unwrap()) {
        if let Some(m) = mismatch(got, &decode(want), rtol) {
            errors.push(format!("{name}: grad_{w}: {m}"));
        }
    }
    errors
}

fn run_cases(known_differences: bool) -> usize {
    let doc = fixture();
    let mut errors = Vec::new();
    let mut ran = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if KNOWN_DIFFERENCES.iter().any(|(p, _)| *p == name) != known_differences {
            continue;
        }
        ran += 1;
        errors.extend(run_case(case));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    ran
}

#[test]
fn gradients_match_pytorch_autograd() {
    let ran = run_cases(false);
    assert!(ran >= 90, "the fixture's cases ran ({ran})");
}

#[test]
#[ignore = "kiln's max(x, dim) splits a tie evenly (KNOWN_DIFFERENCES)"]
fn known_differences_match_pytorch() {
    run_cases(true);
}
