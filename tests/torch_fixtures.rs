//! PyTorch's answers for the differential tester's findings (issue 12), as committed fixtures:
//! `tests/fixtures/torch/*.json`, written by `scripts/torch_fixtures.py` (which needs PyTorch;
//! these tests do not). Every case runs through the compiled function (CPU backend, under each
//! dynamic policy it names, each in a fresh cache directory) and through the reference
//! interpreter, and must give PyTorch's dtype, shape and values, or an error where PyTorch
//! raises.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};
use serde_json::Value;

struct Case {
    name: String,
    graph: String,
    policies: Vec<DynamicPolicy>,
    ulps: f64,
    /// An absolute allowance on top of `ulps` (0 unless the fixture gives one).
    atol: f64,
    /// Whether -0.0 and 0.0 differ (the nn fixtures' edge values check PyTorch's signs).
    signed_zero: bool,
    interp: bool,
    inputs: Vec<Tensor>,
    /// PyTorch's outputs, or `Err(message)` where PyTorch raised.
    expected: Result<Vec<Tensor>, String>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn tensor(v: &Value) -> Tensor {
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

fn policy(name: &str) -> DynamicPolicy {
    match name {
        "static" => DynamicPolicy::Static,
        "dynamic" => DynamicPolicy::Dynamic,
        "auto" => DynamicPolicy::Auto,
        other => panic!("unknown policy {other}"),
    }
}

fn load(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/fixtures/torch/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("fixture JSON");
    let list = |c: &Value, k: &str| c[k].as_array().cloned().unwrap_or_default();
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            graph: c["graph"].as_str().expect("graph").to_string(),
            policies: list(c, "policies")
                .iter()
                .map(|p| policy(p.as_str().expect("policy")))
                .collect(),
            ulps: c["ulps"].as_f64().unwrap_or(0.0),
            atol: c["atol"].as_f64().unwrap_or(0.0),
            signed_zero: c["signed_zero"].as_bool().unwrap_or(false),
            interp: c["interp"].as_bool().unwrap_or(true),
            inputs: list(c, "inputs").iter().map(tensor).collect(),
            expected: match c.get("error") {
                Some(e) => Err(e.as_str().unwrap_or_default().to_string()),
                None => Ok(list(c, "outputs").iter().map(tensor).collect()),
            },
        })
        .collect()
}

/// The spacing of `dtype`'s values at `v` (its smallest subnormal at 0).
fn ulp(dtype: DType, v: f64) -> f64 {
    let (mantissa, min_exp) = match dtype {
        DType::Bool | DType::I64 => return 0.0,
        DType::F16 => (10, -14),
        DType::BF16 => (7, -126),
        DType::F32 => (23, -126),
        DType::F64 => (52, -1022),
    };
    let e = if v == 0.0 || !v.is_finite() {
        min_exp
    } else {
        (v.abs().log2().floor() as i32).max(min_exp)
    };
    2f64.powi(e - mantissa)
}

/// Why `got` is not PyTorch's `want`, or `None` when every element is within `ulps`.
fn mismatch(got: &Tensor, want: &Tensor, case: &Case) -> Option<String> {
    let (ulps, atol) = (case.ulps, case.atol);
    if got.dtype != want.dtype || got.shape != want.shape {
        return Some(format!(
            "got {} {:?}, PyTorch gives {} {:?}",
            got.dtype, got.shape, want.dtype, want.shape
        ));
    }
    let (g, w) = (got.to_f64(), want.to_f64());
    g.iter().zip(&w).enumerate().find_map(|(i, (&a, &b))| {
        let sign_differs = case.signed_zero && a.is_sign_negative() != b.is_sign_negative();
        if a == 0.0 && b == 0.0 && sign_differs {
            return Some(format!("element {i}: got {a:e}, PyTorch gives {b:e}"));
        }
        let same = (a.is_nan() && b.is_nan()) || a == b;
        let close = (a - b).abs() <= ulps * ulp(want.dtype, b) + atol;
        (!same && !close).then(|| format!("element {i}: got {a:e}, PyTorch gives {b:e}"))
    })
}

fn compare(what: &str, result: Result<Vec<Tensor>, String>, case: &Case) -> Option<String> {
    let failure = match (&case.expected, result) {
        (_, Err(e)) if e.starts_with("PANIC") => Some(e),
        (Err(_), Err(_)) => None,
        (Err(torch), Ok(_)) => Some(format!("accepted; PyTorch raises \"{torch}\"")),
        (Ok(_), Err(e)) => Some(format!("refused ({e}); PyTorch computes it")),
        (Ok(want), Ok(got)) if want.len() != got.len() => {
            Some(format!("{} outputs, expected {}", got.len(), want.len()))
        }
        (Ok(want), Ok(got)) => got.iter().zip(want).find_map(|(g, w)| mismatch(g, w, case)),
    };
    failure.map(|f| format!("{} [{what}]: {f}", case.name))
}

/// Runs `f`, turning a panic into an error naming it, so that one panicking case is reported
/// with the others instead of ending the test.
fn no_panic(f: impl FnOnce() -> Result<Vec<Tensor>, String>) -> Result<Vec<Tensor>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("PANIC: {msg}"))
    })
}

fn run_compiled(case: &Case, policy: DynamicPolicy) -> Result<Vec<Tensor>, String> {
    let graph = kiln::parse(&case.graph).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = CompileOptions::default()
        .dynamic(policy)
        .cache_dir(dir.path());
    let f = Compiler::new(opts)
        .compile(&graph)
        .map_err(|e| e.to_string())?;
    let inputs: Vec<&Tensor> = case.inputs.iter().collect();
    f.run(&inputs).map_err(|e| e.to_string())
}

fn check_file(file: &str) {
    let cases = load(file);
    assert!(!cases.is_empty(), "{file} has no cases");
    let mut failures = Vec::new();
    for case in &cases {
        for &p in &case.policies {
            let got = no_panic(|| run_compiled(case, p));
            failures.extend(compare(&format!("{p:?}"), got, case));
        }
        if case.interp {
            let interp = no_panic(|| {
                let g = kiln::parse(&case.graph).map_err(|e| e.to_string())?;
                kiln_ir::interpret(&g, &case.inputs).map_err(|e| e.to_string())
            });
            failures.extend(compare("interpreter", interp, case));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases in {file} differ from PyTorch:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn derived_size_one_dims_broadcast_squeeze_and_expand() {
    check_file("derived_one.json");
}

#[test]
fn bool_arithmetic_and_refused_bool_ops() {
    check_file("bool.json");
}

#[test]
fn result_type_tiers_of_0d_tensors() {
    check_file("promotion.json");
}

#[test]
fn comparisons_round_the_scalar_to_the_tensor_dtype() {
    check_file("comparison.json");
}

#[test]
fn sin_cos_over_the_whole_range() {
    check_file("trig.json");
}

#[test]
fn valid_graphs_are_accepted_and_0d_ops_do_not_panic() {
    check_file("refused_valid.json");
}

#[test]
fn f16_bf16_intermediates_round_like_pytorch() {
    check_file("difftest.json");
}

#[test]
fn unbatched_pooling_keeps_rank_3() {
    check_file("unbatched_pool.json");
}

#[test]
fn convolution_conv1d_conv2d_conv_transpose2d() {
    check_file("conv.json");
}

#[test]
fn conv_backward_input_and_weight_match_torch_autograd() {
    check_file("conv_grad.json");
}

#[test]
fn nn_activations_norms_and_flatten_match_pytorch() {
    check_file("nn.json");
}

#[test]
fn movement_ops_match_pytorch() {
    check_file("movement.json");
}

#[test]
fn int64_tensors_and_argmax_argmin_max_min() {
    check_file("index.json");
}

#[test]
fn gather_ops_match_pytorch_and_refuse_its_bad_indices() {
    check_file("gather.json");
}

#[test]
fn matmul_family_matches_pytorch() {
    check_file("linalg.json");
}

#[test]
fn pool_backward_matches_pytorch_autograd() {
    check_file("pool_grad.json");
}

#[test]
fn gradient_family_matches_pytorch() {
    check_file("grad_ops.json");
}
