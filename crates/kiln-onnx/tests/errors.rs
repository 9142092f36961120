//! Bad ONNX input: each a typed error naming the problem, never a panic.
mod build_support;

use build_support::*;
use kiln_onnx::OnnxError;
use prost::Message;

fn relu_model(opset: i64) -> kiln_onnx::proto::ModelProto {
    model(
        vec![node("Relu", &["x"], &["y"], vec![])],
        vec![value("x", 1, &[None, Some(3)])],
        vec![value("y", 1, &[None, Some(3)])],
        vec![],
        opset,
    )
}

#[test]
fn a_small_model_imports_with_a_dynamic_batch() {
    let m = kiln_onnx::import_model(&relu_model(17), std::path::Path::new(".")).unwrap();
    assert_eq!(
        m.graph.inputs()[0].dims,
        vec![kiln_shape::Dim::Sym("N".into()), kiln_shape::Dim::Fixed(3)]
    );
    assert_eq!(m.opset, 17);
}

#[test]
fn truncated_and_garbage_files_are_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = relu_model(17).encode_to_vec();
    for (name, data) in [
        ("truncated.onnx", &bytes[..bytes.len() / 2]),
        ("garbage.onnx", &[0xff; 64][..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let err = kiln_onnx::load(&path).unwrap_err();
        assert!(matches!(err, OnnxError::Decode { .. }), "{name}: {err}");
    }
    let err = kiln_onnx::load(dir.path().join("absent.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::Io { .. }), "{err}");
}

#[test]
fn an_unknown_opset_is_refused() {
    let err = kiln_onnx::import_model(&relu_model(5), std::path::Path::new(".")).unwrap_err();
    assert!(matches!(err, OnnxError::Opset { version: 5, .. }), "{err}");
}

#[test]
fn every_unsupported_node_is_listed_at_once() {
    let m = model(
        vec![
            node("Relu", &["x"], &["a"], vec![]),
            node("FancyOp", &["a"], &["b"], vec![]),
            node("OtherOp", &["a"], &["c"], vec![]),
            node("FancyOp", &["x"], &["d"], vec![]),
            // Reads an unsupported node's output: skipped, not listed as a second problem.
            node("Add", &["b", "c"], &["y"], vec![]),
        ],
        vec![value("x", 1, &[Some(2)])],
        vec![value("y", 1, &[Some(2)])],
        vec![],
        17,
    );
    let err = kiln_onnx::import_model(&m, std::path::Path::new(".")).unwrap_err();
    let OnnxError::Unsupported { nodes } = &err else {
        panic!("{err}")
    };
    assert_eq!(nodes.len(), 3);
    let text = err.to_string();
    assert!(
        text.contains("FancyOp (2:") && text.contains("OtherOp (1:"),
        "{text}"
    );
}

#[test]
fn a_missing_value_names_it() {
    let m = model(
        vec![node("Add", &["x", "w"], &["y"], vec![])],
        vec![value("x", 1, &[Some(2)])],
        vec![value("y", 1, &[Some(2)])],
        vec![],
        17,
    );
    let err = kiln_onnx::import_model(&m, std::path::Path::new(".")).unwrap_err();
    assert!(
        err.to_string().contains("`w`") || err.to_string().contains("w:"),
        "{err}"
    );
    assert!(err.to_string().contains("not defined"), "{err}");
}

#[test]
fn external_data_outside_the_model_directory_is_refused() {
    use kiln_onnx::proto::{StringStringEntryProto, TensorProto};
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("w.bin"), [0u8; 8]).unwrap();
    std::os::unix::fs::symlink(outside.path().join("w.bin"), dir.path().join("link.bin")).unwrap();
    std::fs::write(dir.path().join("ok.bin"), [0u8; 8]).unwrap();
    for (location, expect) in [
        ("../w.bin", "without '..'"),
        ("/etc/passwd", "relative"),
        ("link.bin", "outside"),
        ("ok.bin", ""),
    ] {
        let t = TensorProto {
            name: Some("w".into()),
            dims: vec![2],
            data_type: Some(1),
            data_location: Some(1),
            external_data: vec![StringStringEntryProto {
                key: Some("location".into()),
                value: Some(location.into()),
            }],
            ..Default::default()
        };
        let r = kiln_onnx::tensor_from_proto(&t, dir.path());
        if expect.is_empty() {
            assert_eq!(r.unwrap().shape, vec![2]);
        } else {
            let err = r.unwrap_err();
            assert!(
                matches!(err, OnnxError::ExternalData { .. }) && err.to_string().contains(expect),
                "{location}: {err}"
            );
        }
    }
}
