//! Backward graphs of the gather ops (issue 17): `kiln::grad` of `sum(z)` through
//! index_select, gather, scatter_add, index_add (alpha) and embedding (padding_idx), compiled
//! once under the dynamic policy on the CPU and run on two batch sizes; the gradients must
//! equal PyTorch autograd's exactly (integer inputs: every sum is exact). Fixtures:
//! `tests/fixtures/torch/gather.json` (`models`), from `scripts/torch_fixtures_gather.py`.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};

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

#[test]
fn gather_backward_graphs_match_torch_autograd_with_one_entry() {
    let path = format!(
        "{}/tests/fixtures/torch/gather.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    let models = doc["models"].as_array().expect("models");
    assert_eq!(models.len(), 5);
    for case in models {
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
        let c = Compiler::new(
            CompileOptions::default()
                .dynamic(DynamicPolicy::Dynamic)
                .cache_dir(dir.path()),
        );
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
            let interp = kiln_ir::interpret(&joint, &inputs).expect("interprets");
            let grads = &out[out.len() - wrt.len()..];
            for (i, want) in run["grads"].as_array().expect("grads").iter().enumerate() {
                let want = fixture_tensor(want);
                let what = format!("{name} run {r}: grad_{}", wrt[i]);
                assert_eq!(grads[i].shape, want.shape, "{what}");
                assert_eq!(grads[i].to_f64(), want.to_f64(), "{what}");
                let k = interp.len() - wrt.len() + i;
                assert_eq!(interp[k].to_f64(), want.to_f64(), "{what} (interpreter)");
            }
        }
        let counters = c.counters();
        assert_eq!(
            counters.miss, 1,
            "{name}: one entry serves both runs: {counters:?}"
        );
    }
}
