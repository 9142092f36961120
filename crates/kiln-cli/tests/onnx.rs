//! `kiln run model.onnx` (weights from the file, a dynamic batch through one entry) and
//! `kiln inspect model.onnx` (op counts, and every node kiln cannot import).
mod common;

use common::*;
use kiln_ir::DType;
use kiln_onnx::proto::*;
use prost::Message;

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value as D};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => D::DimValue(*v),
                None => D::DimParam("batch".into()),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("{op}_{output}")),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// `y = relu(x) + w` with `w` an initializer of 3 values; `extra` adds unsupported nodes.
fn model(extra: &[&str]) -> Vec<u8> {
    let w = TensorProto {
        name: Some("w".into()),
        dims: vec![3],
        data_type: Some(1),
        float_data: vec![0.5, -1.0, 2.0],
        ..Default::default()
    };
    let mut nodes = vec![node("Relu", &["x"], "r"), node("Add", &["r", "w"], "y")];
    for (i, op) in extra.iter().enumerate() {
        nodes.push(node(op, &["x"], &format!("extra{i}")));
    }
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("tiny".into()),
            node: nodes,
            input: vec![value("x", &[None, Some(3)])],
            output: vec![value("y", &[None, Some(3)])],
            initializer: vec![w],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn an_onnx_model_runs_with_its_weights_and_one_entry_serves_two_batches() {
    let s = Scratch::new();
    let path = s.path("tiny.onnx");
    std::fs::write(&path, model(&[])).unwrap();
    for (batch, seed) in [(2usize, 1u64), (5, 2)] {
        let x = data(DType::F32, &[batch, 3], seed);
        let xp = s.npy(&format!("x{batch}"), &x);
        let out = s.path(&format!("out{batch}"));
        let args = [
            "run",
            path.to_str().unwrap(),
            "--input",
            &format!("x={}", xp.display()),
            "--out",
            out.to_str().unwrap(),
        ];
        let text = ok(&s.kiln(&args));
        let expect = if batch == 2 {
            "cache miss"
        } else {
            "cache hit"
        };
        assert!(text.contains(expect), "batch {batch}: {text}");
        let y = read_npy(&out.join("y.npy"), DType::F32).to_f32();
        let want: Vec<f32> = x
            .to_f32()
            .iter()
            .enumerate()
            .map(|(i, v)| v.max(0.0) + [0.5, -1.0, 2.0][i % 3])
            .collect();
        assert_eq!(y, want, "batch {batch}");
    }
}

#[test]
fn inspect_lists_the_ops_and_every_unsupported_node() {
    let s = Scratch::new();
    let path = s.path("odd.onnx");
    std::fs::write(&path, model(&["Det", "Sign", "Det"])).unwrap();
    let text = ok(&s.kiln(&["inspect", path.to_str().unwrap()]));
    assert!(
        text.contains("Relu x1") && text.contains("Det x2"),
        "{text}"
    );
    assert!(
        text.contains("kiln cannot import it: 3 unsupported node(s)"),
        "{text}"
    );
    let good = s.path("tiny.onnx");
    std::fs::write(&good, model(&[])).unwrap();
    let j = json(&s.kiln(&["inspect", good.to_str().unwrap(), "--json"]));
    assert_eq!(j["importable"], true, "{j}");
    let bad = s.path("garbage.onnx");
    std::fs::write(&bad, [0xffu8; 16]).unwrap();
    let err = fails(&s.kiln(&["inspect", bad.to_str().unwrap()]), 1);
    assert!(err.contains("not a valid ONNX protobuf"), "{err}");
}
