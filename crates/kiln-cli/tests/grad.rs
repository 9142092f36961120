//! `kiln run --grad` (gradients of the sum of the first output's elements, written beside the
//! outputs as grad_<NAME>.npy; .kiln with --param and .onnx with its weights) and `kiln
//! compile --grad` (the joint graph through the cache: a miss, then a hit in a fresh process).
mod common;

use common::*;
use kiln_ir::DType;
use kiln_onnx::proto::*;
use prost::Message;

/// `y = tanh(linear(x, w, b))`; its gradients are computed by hand below.
const LAYER: &str = "graph layer
input x: f32[N, 3]
param w: f32[4, 3]
param b: f32[4]
l = linear(x, w, b)
y = tanh(l)
output y
";

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// `d sum(tanh(x w^T + b)) / d (x, w, b)`, by hand in f64: `dl = 1 - tanh(l)^2`,
/// `grad_b = sum_n dl`, `grad_w = dl^T x`, `grad_x = dl w`.
fn layer_grads(x: &[f64], w: &[f64], b: &[f64], n: usize) -> [Vec<f64>; 3] {
    let (mut gx, mut gw, mut gb) = (vec![0.0; n * 3], vec![0.0; 12], vec![0.0; 4]);
    for r in 0..n {
        for o in 0..4 {
            let l: f64 = b[o] + (0..3).map(|i| x[r * 3 + i] * w[o * 3 + i]).sum::<f64>();
            let dl = 1.0 - l.tanh().powi(2);
            gb[o] += dl;
            for i in 0..3 {
                gw[o * 3 + i] += dl * x[r * 3 + i];
                gx[r * 3 + i] += dl * w[o * 3 + i];
            }
        }
    }
    [gx, gw, gb]
}

fn close(got: &kiln::Tensor, want: &[f64], what: &str) {
    let got = got.to_f64();
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn run_grad_writes_each_gradient_beside_the_outputs() {
    let sc = Scratch::new();
    let g = sc.write("layer.kiln", LAYER);
    let n = 5;
    let (x, w, b) = (
        data(DType::F32, &[n, 3], 1),
        data(DType::F32, &[4, 3], 2),
        data(DType::F32, &[4], 3),
    );
    let (xp, wp, bp) = (sc.npy("x", &x), sc.npy("w", &w), sc.npy("b", &b));
    let out = sc.path("out");
    let j = json(&sc.kiln(&[
        "run",
        &s(&g),
        "--json",
        "--grad",
        "w,b,x",
        "--input",
        &format!("x={}", s(&xp)),
        "--param",
        &format!("w={}", s(&wp)),
        "--param",
        &format!("b={}", s(&bp)),
        "--out",
        &s(&out),
    ]));
    assert_eq!(j["cache"], "miss", "{j}");
    assert_eq!(
        j["outputs"]["grad_w"]["shape"],
        serde_json::json!([4, 3]),
        "{j}"
    );
    let [gx, gw, gb] = layer_grads(&x.to_f64(), &w.to_f64(), &b.to_f64(), n);
    close(
        &read_npy(&out.join("grad_x.npy"), DType::F32),
        &gx,
        "grad_x",
    );
    close(
        &read_npy(&out.join("grad_w.npy"), DType::F32),
        &gw,
        "grad_w",
    );
    close(
        &read_npy(&out.join("grad_b.npy"), DType::F32),
        &gb,
        "grad_b",
    );
    // The forward output is still written, equal to the interpreter's.
    let graph = kiln::parse(LAYER).unwrap();
    let want = kiln_ir::interpret(&graph, &[x, w, b]).unwrap();
    let y = read_npy(&out.join("y.npy"), DType::F32);
    assert!(max_abs_diff(&y, &want[0]) < 1e-6);
}

#[test]
fn compile_grad_caches_the_joint_graph_and_a_fresh_process_hits() {
    let sc = Scratch::new();
    let g = sc.write("layer.kiln", LAYER);
    let compile = |extra: &[&str]| {
        let mut args = vec!["compile", g.to_str().unwrap(), "--shape", "x=8x3", "--json"];
        args.extend_from_slice(extra);
        json(&sc.kiln(&args))
    };
    let first = compile(&["--grad", "w,b"]);
    assert_eq!(first["cache"], "miss", "{first}");
    let second = compile(&["--grad", "w,b"]);
    assert_eq!(second["cache"], "hit", "{second}");
    assert_eq!(second["key"], first["key"]);
    // The forward alone, and the gradient of another set, are other graphs: other entries.
    let forward = compile(&[]);
    assert_eq!(forward["cache"], "miss", "{forward}");
    assert_ne!(forward["key"], first["key"]);
    let other = compile(&["--grad", "w"]);
    assert_ne!(other["key"], first["key"]);
    // Text output says the same.
    let text = ok(&sc.kiln(&[
        "compile",
        g.to_str().unwrap(),
        "--shape",
        "x=8x3",
        "--grad",
        "w,b",
    ]));
    assert!(text.contains("cache hit"), "{text}");
    // --emit kernel-ir says what a forward/backward split would save and recompute.
    let ir = ok(&sc.kiln(&[
        "compile",
        g.to_str().unwrap(),
        "--shape",
        "x=8x3",
        "--grad",
        "w,b",
        "--emit",
        "kernel-ir",
    ]));
    let note = ir.lines().next().unwrap_or_default();
    assert!(
        note.starts_with("# --grad w,b: a forward/backward split"),
        "{ir}"
    );
    assert!(
        note.contains("saves") && note.contains("recomputes"),
        "{note}"
    );
    assert!(ir.contains("program "), "the kernel IR follows: {ir}");
}

/// `y = relu(x) + w`, `w` an initializer `[0.5, -1, 2]`, `x: f32[batch, 3]`.
fn onnx_model() -> Vec<u8> {
    use tensor_shape_proto::{Dimension, dimension::Value as D};
    let value = |name: &str| ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            value: Some(D::DimParam("batch".into())),
                            denotation: None,
                        },
                        Dimension {
                            value: Some(D::DimValue(3)),
                            denotation: None,
                        },
                    ],
                }),
            })),
            denotation: None,
        }),
        ..Default::default()
    };
    let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("{op}_{output}")),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    };
    let w = TensorProto {
        name: Some("w".into()),
        dims: vec![3],
        data_type: Some(1),
        float_data: vec![0.5, -1.0, 2.0],
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("tiny".into()),
            node: vec![node("Relu", &["x"], "r"), node("Add", &["r", "w"], "y")],
            input: vec![value("x")],
            output: vec![value("y")],
            initializer: vec![w],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn run_grad_of_an_onnx_model_uses_its_weights() {
    let sc = Scratch::new();
    let path = sc.path("tiny.onnx");
    std::fs::write(&path, onnx_model()).unwrap();
    let x = data(DType::F32, &[4, 3], 5);
    let xp = sc.npy("x", &x);
    let out = sc.path("out");
    ok(&sc.kiln(&[
        "run",
        &s(&path),
        "--grad",
        "w,x",
        "--input",
        &format!("x={}", s(&xp)),
        "--out",
        &s(&out),
    ]));
    // d sum(relu(x) + w) / dw: the batch size per element (broadcast over rows, summed back);
    // / dx: relu's derivative, 0 at and below 0 as PyTorch's.
    close(
        &read_npy(&out.join("grad_w.npy"), DType::F32),
        &[4.0; 3],
        "grad_w",
    );
    let gx: Vec<f64> = x.to_f64().iter().map(|&v| (v > 0.0) as u8 as f64).collect();
    close(
        &read_npy(&out.join("grad_x.npy"), DType::F32),
        &gx,
        "grad_x",
    );
}

#[test]
fn grad_names_are_checked() {
    let sc = Scratch::new();
    let g = sc.write("layer.kiln", LAYER);
    let compile = |grad: &str| {
        sc.kiln(&[
            "compile",
            g.to_str().unwrap(),
            "--shape",
            "x=2x3",
            "--grad",
            grad,
        ])
    };
    let err = fails(&compile("nope"), 2);
    assert!(
        err.contains("--grad nope") && err.contains("its inputs: x; parameters: w, b"),
        "{err}"
    );
    let err = fails(&compile("w,w"), 2);
    assert!(err.contains("--grad w is given twice"), "{err}");
    let err = fails(&compile("w,"), 2);
    assert!(err.contains("empty name"), "{err}");

    let ints = sc.write(
        "ints.kiln",
        "graph ints\ninput x: f32[4]\ninput i: i64[4]\nf = to(i, dtype=f32)\ny = add(x, f)\noutput y\n",
    );
    let out = sc.kiln(&[
        "compile",
        ints.to_str().unwrap(),
        "--shape",
        "x=4",
        "--shape",
        "i=4",
        "--grad",
        "i",
    ]);
    let err = fails(&out, 1);
    assert!(
        err.contains("--grad") && err.contains("`i`") && err.contains("it is i64"),
        "{err}"
    );
}
