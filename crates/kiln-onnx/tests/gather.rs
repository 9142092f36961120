//! ONNX Gather (1-D, scalar constant and N-D indices), GatherElements and ScatterElements
//! (reduction="add") import to kiln's gather ops; values from onnxruntime's semantics
//! (hand-computed, equal to torch's index_select / select / embedding / gather / scatter_add).
mod build_support;

use build_support::*;
use kiln_ir::{DType, Tensor, interpret};
use kiln_onnx::OnnxError;
use kiln_onnx::proto::{AttributeProto, TensorProto, attribute_proto::AttributeType};

const I64: i32 = 7;

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(v),
        r#type: Some(AttributeType::Int as i32),
        ..Default::default()
    }
}

fn str_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        s: Some(v.as_bytes().to_vec()),
        r#type: Some(AttributeType::String as i32),
        ..Default::default()
    }
}

fn i64_tensor(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(I64),
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f64(
        DType::F32,
        shape,
        &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
    )
}

fn run(m: &kiln_onnx::proto::ModelProto, inputs: &[Tensor]) -> Vec<Tensor> {
    let imported = kiln_onnx::import_model(m, std::path::Path::new(".")).unwrap();
    interpret(&imported.graph, inputs).unwrap()
}

#[test]
fn gather_maps_to_index_select_select_and_embedding() {
    let m = model(
        vec![
            node("Gather", &["x", "i"], &["a"], vec![int_attr("axis", 1)]),
            node("Gather", &["x", "s"], &["b"], vec![int_attr("axis", 1)]),
            node("Gather", &["x", "neg"], &["c"], vec![]),
            node("Gather", &["x", "ids"], &["d"], vec![]),
        ],
        vec![
            value("x", 1, &[Some(3), Some(4)]),
            value("i", I64, &[Some(3)]),
            value("ids", I64, &[Some(2), Some(2)]),
        ],
        vec![
            value("a", 1, &[Some(3), Some(3)]),
            value("b", 1, &[Some(3)]),
            value("c", 1, &[Some(4)]),
            value("d", 1, &[Some(2), Some(2), Some(4)]),
        ],
        vec![i64_tensor("s", &[], &[2]), i64_tensor("neg", &[], &[-1])],
        13,
    );
    let x = arange(&[3, 4]);
    let i = Tensor::from_i64(&[3], &[3, 0, 3]);
    let ids = Tensor::from_i64(&[2, 2], &[2, 0, 1, 2]);
    let out = run(&m, &[x, i, ids]);
    assert_eq!(
        out[0].to_f64(),
        [3.0, 0.0, 3.0, 7.0, 4.0, 7.0, 11.0, 8.0, 11.0]
    );
    // A scalar index drops the axis; a negative one counts from the end.
    assert_eq!(
        (out[1].shape.clone(), out[1].to_f64()),
        (vec![3], vec![2.0, 6.0, 10.0])
    );
    assert_eq!(out[2].to_f64(), [8.0, 9.0, 10.0, 11.0]);
    assert_eq!(out[3].shape, [2, 2, 4]);
    assert_eq!(
        &out[3].to_f64()[..8],
        [8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]
    );
}

#[test]
fn gather_elements_and_scatter_elements_add() {
    let m = model(
        vec![
            node(
                "GatherElements",
                &["x", "j"],
                &["g"],
                vec![int_attr("axis", 1)],
            ),
            node(
                "ScatterElements",
                &["x", "j", "u"],
                &["s"],
                vec![int_attr("axis", 1), str_attr("reduction", "add")],
            ),
        ],
        vec![
            value("x", 1, &[None, Some(4)]),
            value("j", I64, &[None, Some(2)]),
            value("u", 1, &[None, Some(2)]),
        ],
        vec![
            value("g", 1, &[None, Some(2)]),
            value("s", 1, &[None, Some(4)]),
        ],
        vec![],
        16,
    );
    let x = arange(&[2, 4]);
    let j = Tensor::from_i64(&[2, 2], &[3, 3, 0, 1]);
    let u = Tensor::from_f64(DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let out = run(&m, &[x, j, u]);
    assert_eq!(out[0].to_f64(), [3.0, 3.0, 4.0, 5.0]);
    assert_eq!(out[1].to_f64(), [0.0, 1.0, 2.0, 6.0, 7.0, 9.0, 6.0, 7.0]);
}

#[test]
fn scatter_elements_without_add_and_negative_constant_indices_are_listed_unsupported() {
    let m = model(
        vec![
            node("ScatterElements", &["x", "j", "u"], &["s"], vec![]),
            node("Gather", &["x", "k"], &["g"], vec![]),
        ],
        vec![
            value("x", 1, &[Some(2), Some(2)]),
            value("j", I64, &[Some(2), Some(2)]),
            value("u", 1, &[Some(2), Some(2)]),
        ],
        vec![
            value("s", 1, &[Some(2), Some(2)]),
            value("g", 1, &[Some(1), Some(2)]),
        ],
        vec![i64_tensor("k", &[1], &[-1])],
        16,
    );
    let err = kiln_onnx::import_model(&m, std::path::Path::new(".")).unwrap_err();
    let OnnxError::Unsupported { nodes } = &err else {
        panic!("{err}")
    };
    assert_eq!(nodes.len(), 2, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ScatterElements") && text.contains("Gather"),
        "{text}"
    );
}
