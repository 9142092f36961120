//! `kiln run`: .npy in, .npy out, checked against the reference interpreter; the cache
//! outcome of repeated runs and of compile-then-run.
mod common;

use common::*;
use kiln_ir::DType;

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn run_writes_outputs_that_match_the_interpreter() {
    let s = Scratch::new();
    let graph_path = example_graph("pool_relu");
    let graph = kiln::parse(&std::fs::read_to_string(&graph_path).unwrap()).unwrap();
    let x = data(DType::F32, &[2, 4, 9, 11], 1);
    let scale = data(DType::F32, &[1, 4, 1, 1], 2);
    let (xp, sp, out) = (s.npy("x", &x), s.npy("s", &scale), s.path("out"));
    let o = s.kiln(&[
        "run",
        path_str(&graph_path),
        "--input",
        &format!("x={}", xp.display()),
        "--input",
        &format!("s={}", sp.display()),
        "--out",
        path_str(&out),
    ]);
    let text = ok(&o);
    assert!(text.contains("cache miss"), "{text}");
    let reference = kiln_ir::interpret(&graph, &[x, scale]).unwrap();
    for (name, want) in ["p", "q"].iter().zip(&reference) {
        let got = read_npy(&out.join(format!("{name}.npy")), DType::F32);
        assert!(max_abs_diff(&got, want) < 1e-6, "output {name}");
    }
}

#[test]
fn json_reports_miss_then_hit_with_outputs() {
    let s = Scratch::new();
    let graph = example_graph("elementwise");
    let inputs = [
        ("x", s.npy("x", &data(DType::F32, &[3, 5], 1))),
        ("y", s.npy("y", &data(DType::F32, &[3, 5], 2))),
        ("z", s.npy("z", &data(DType::F32, &[1, 5], 3))),
    ];
    let mut args: Vec<String> = vec!["run".into(), graph.display().to_string(), "--json".into()];
    for (name, p) in &inputs {
        args.push("--input".into());
        args.push(format!("{name}={}", p.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = json(&s.kiln(&args));
    assert_eq!(first["cache"], "miss");
    assert_eq!(first["key"].as_str().map(str::len), Some(64));
    assert!(first["compile_ms"].as_f64().is_some_and(|v| v > 0.0));
    assert!(first["run_ms"].as_f64().is_some_and(|v| v >= 0.0));
    assert_eq!(first["outputs"]["out"]["dtype"], "f32");
    assert_eq!(first["outputs"]["out"]["shape"], serde_json::json!([3, 5]));
    let second = json(&s.kiln(&args));
    assert_eq!(second["cache"], "hit");
    assert_eq!(second["key"], first["key"]);

    // Another shape of the same class (the files are rewritten in place): the dynamic entry
    // serves it.
    s.npy("x", &data(DType::F32, &[7, 5], 4));
    s.npy("y", &data(DType::F32, &[7, 5], 5));
    let third = json(&s.kiln(&args));
    assert_eq!(third["cache"], "hit");
    assert_eq!(third["outputs"]["out"]["shape"], serde_json::json!([7, 5]));

    let mut bypass = args.clone();
    bypass.push("--no-cache");
    assert_eq!(json(&s.kiln(&bypass))["cache"], "bypass");
}

#[test]
fn compile_then_run_hits() {
    let s = Scratch::new();
    let graph = example_graph("softmax");
    let o = s.kiln(&["compile", path_str(&graph), "--shape", "x=4x6", "--json"]);
    let compiled = json(&o);
    assert_eq!(compiled["cache"], "miss");
    let x = s.npy("x", &data(DType::F32, &[4, 6], 9));
    let ran = json(&s.kiln(&[
        "run",
        path_str(&graph),
        "--input",
        &format!("x={}", x.display()),
        "--json",
    ]));
    assert_eq!(ran["cache"], "hit");
    assert_eq!(ran["key"], compiled["key"]);
}

#[test]
fn bf16_inputs_read_f32_files_and_outputs_are_widened_to_f32() {
    let s = Scratch::new();
    let graph_text =
        "graph bf\ninput x: bf16[N]\ninput y: bf16[N]\nz = mul(x, y)\nw = add(z, 1.0)\noutput w\n";
    let graph_path = s.write("bf.kiln", graph_text);
    let graph = kiln::parse(graph_text).unwrap();
    let (x, y) = (data(DType::F32, &[33], 1), data(DType::F32, &[33], 2));
    let (xp, yp, out) = (s.npy("x", &x), s.npy("y", &y), s.path("out"));
    ok(&s.kiln(&[
        "run",
        path_str(&graph_path),
        "-i",
        &format!("x={}", xp.display()),
        "-i",
        &format!("y={}", yp.display()),
        "--out",
        path_str(&out),
    ]));
    let as_bf16 = |t: &kiln::Tensor| kiln::Tensor::from_f64(DType::BF16, &t.shape, &t.to_f64());
    let want = kiln_ir::interpret(&graph, &[as_bf16(&x), as_bf16(&y)]).unwrap();
    assert_eq!(want[0].dtype, DType::BF16);
    let got = read_npy(&out.join("w.npy"), DType::F32);
    // Every value in the f32 file is a bf16 value (widened exactly), and it is what the
    // interpreter computes up to one bf16 rounding of the fused intermediate.
    for v in got.to_f64() {
        assert_eq!(
            kiln_ir::round_to(DType::BF16, v),
            v,
            "{v} is not a bf16 value"
        );
    }
    let err = max_abs_diff(&got, &want[0]);
    assert!(
        err <= 2f64.powi(-7),
        "bf16 result differs from the interpreter by {err}"
    );
}

#[test]
fn scalar_shapes_are_accepted() {
    let s = Scratch::new();
    let graph_path = s.write(
        "scalar.kiln",
        "graph scal\ninput x: f32[N]\ninput k: f32[]\ny = mul(x, k)\noutput y\n",
    );
    for spelling in ["k=", "k=scalar"] {
        let o = s.kiln(&[
            "compile",
            path_str(&graph_path),
            "--shape",
            "x=5",
            "--shape",
            spelling,
            "--json",
        ]);
        assert!(json(&o)["cache"].is_string());
    }
}

#[test]
fn json_lists_output_paths_and_converted_inputs() {
    let s = Scratch::new();
    let graph = example_graph("seed_mul");
    let x = kiln_ir::Tensor::from_f64(DType::F64, &[3], &[0.1, 0.5, 0.2]);
    let (xp, yp) = (s.npy("x", &x), s.npy("y", &data(DType::F32, &[3], 2)));
    let out = s.path("out");
    let o = s.kiln(&[
        "run",
        path_str(&graph),
        "--input",
        &format!("x={}", xp.display()),
        "--input",
        &format!("y={}", yp.display()),
        "--out",
        path_str(&out),
        "--json",
    ]);
    let report = json(&o);
    let z = out.join("z.npy");
    assert_eq!(report["outputs"]["z"]["path"], path_str(&z), "{report}");
    assert!(z.exists());
    assert_eq!(
        report["converted_inputs"],
        serde_json::json!([{"input": "x", "role": "input", "from": "float64", "to": "f32", "rounded": 2, "values": 3}])
    );
}

/// Issue 12.6: bf16 inputs come from the f32 bits (PyTorch's `.to(torch.bfloat16)`), not
/// through half's f64 conversion, which truncated before rounding.
#[test]
fn bf16_inputs_round_from_the_f32_bits() {
    let s = Scratch::new();
    let g = s.write(
        "widen.kiln",
        "graph w\ninput x: bf16[N]\ny = to(x, f32)\noutput y\n",
    );
    let v = f32::from_bits(0x3f1e_8003);
    let xp = s.npy("x", &kiln_ir::Tensor::from_f32(&[1], &[v]));
    let out = s.path("out");
    ok(&s.kiln(&[
        "run",
        path_str(&g),
        "--input",
        &format!("x={}", xp.display()),
        "--out",
        path_str(&out),
    ]));
    let y = read_npy(&out.join("y.npy"), DType::F32);
    assert_eq!(y.to_f64(), vec![0.621_093_75]);
}
