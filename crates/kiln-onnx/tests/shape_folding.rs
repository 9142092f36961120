//! Shape subgraphs as exporters write them, folded at import over the batch symbol `N`: the
//! imported graph is checked on the reference interpreter at several batch sizes against
//! values computed by hand, and what cannot be folded is a typed error naming the node.
mod build_support;

use build_support::*;
use kiln_ir::{Op, Tensor};
use kiln_onnx::OnnxError;
use kiln_onnx::proto::{AttributeProto, NodeProto, TensorProto, attribute_proto};

fn ints(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(7),
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(v),
        r#type: Some(attribute_proto::AttributeType::Int as i32),
        ..Default::default()
    }
}

/// `Shape(x) -> Gather(index `{out}_i`) -> Unsqueeze`: one size of `x` as a 1-element shape.
fn dim_of(x: &str, out: &str) -> Vec<NodeProto> {
    let (s, g, idx) = (
        format!("{out}_shape"),
        format!("{out}_g"),
        format!("{out}_i"),
    );
    vec![
        node("Shape", &[x], &[&s], vec![]),
        node("Gather", &[&s, &idx], &[&g], vec![int_attr("axis", 0)]),
        node("Unsqueeze", &[&g, "axes0"], &[out], vec![]),
    ]
}

fn idx_inits(out: &str, i: i64) -> TensorProto {
    ints(&format!("{out}_i"), &[], &[i])
}

fn x_of(n: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 12).map(|i| i as f32 * 0.5 - 3.0).collect();
    Tensor::from_f32(&[n, 3, 4], &v)
}

fn run(m: &kiln_onnx::Model, n: usize) -> Vec<f32> {
    let out = kiln_ir::interpret(&m.graph, &[x_of(n)]).expect("interpret");
    out[0].to_f32()
}

/// `x.reshape(x.shape[0] * x.shape[1], 4)`: `3*N` is not a kiln dim, so it becomes the
/// reshape's one `-1`.
#[test]
fn reshape_to_a_product_of_sizes_is_the_one_unknown() {
    let mut nodes = dim_of("x", "n");
    nodes.extend(dim_of("x", "c"));
    nodes.push(node("Mul", &["n", "c"], &["nc"], vec![]));
    nodes.push(node(
        "Concat",
        &["nc", "four"],
        &["shape"],
        vec![int_attr("axis", 0)],
    ));
    nodes.push(node("Reshape", &["x", "shape"], &["y"], vec![]));
    let inits = vec![
        ints("axes0", &[1], &[0]),
        idx_inits("n", 0),
        idx_inits("c", 1),
        ints("four", &[1], &[4]),
    ];
    let outputs = vec![value("y", 1, &[None, Some(4)])];
    let proto = model(
        nodes,
        vec![value("x", 1, &[None, Some(3), Some(4)])],
        outputs,
        inits,
        17,
    );
    let m = kiln_onnx::import_model(&proto, std::path::Path::new(".")).unwrap();
    let reshape = m.graph.outputs()[0];
    match &m.graph.node(reshape).kind {
        kiln_ir::NodeKind::Op(Op::Reshape { shape, .. }) => {
            assert_eq!(
                shape,
                &vec![kiln_shape::Dim::Fixed(-1), kiln_shape::Dim::Fixed(4)]
            )
        }
        other => panic!("expected a reshape, found {other:?}"),
    }
    for n in [1, 2, 5] {
        assert_eq!(run(&m, n), x_of(n).to_f32(), "batch {n}");
    }
}

/// `x.view(N, 12)` written as `Concat(Shape(x)[0:1], [12])`: the batch stays the symbol `N`.
#[test]
fn a_shape_slice_keeps_the_batch_symbol() {
    let nodes = vec![
        node("Shape", &["x"], &["s"], vec![]),
        node("Slice", &["s", "zero", "one"], &["n"], vec![]),
        node(
            "Concat",
            &["n", "twelve"],
            &["shape"],
            vec![int_attr("axis", 0)],
        ),
        node("Reshape", &["x", "shape"], &["y"], vec![]),
    ];
    let inits = vec![
        ints("zero", &[1], &[0]),
        ints("one", &[1], &[1]),
        ints("twelve", &[1], &[12]),
    ];
    let proto = model(
        nodes,
        vec![value("x", 1, &[None, Some(3), Some(4)])],
        vec![value("y", 1, &[None, Some(12)])],
        inits,
        17,
    );
    let m = kiln_onnx::import_model(&proto, std::path::Path::new(".")).unwrap();
    match &m.graph.node(m.graph.outputs()[0]).kind {
        kiln_ir::NodeKind::Op(Op::Reshape { shape, .. }) => assert_eq!(
            shape,
            &vec![kiln_shape::Dim::Sym("N".into()), kiln_shape::Dim::Fixed(12)]
        ),
        other => panic!("expected a reshape, found {other:?}"),
    }
    assert_eq!(run(&m, 3), x_of(3).to_f32());
}

/// `ConstantOfShape(Shape(flat))` where `flat` is `[12*N]`: not a kiln dim, so the constant
/// takes `flat`'s shape (`expand_as`); `flat + 2` at every batch.
#[test]
fn constant_of_another_values_shape_is_expand_as() {
    let two = TensorProto {
        name: Some("value".into()),
        dims: vec![1],
        data_type: Some(1),
        float_data: vec![2.0],
        ..Default::default()
    };
    let value_attr = AttributeProto {
        name: Some("value".into()),
        t: Some(two),
        r#type: Some(attribute_proto::AttributeType::Tensor as i32),
        ..Default::default()
    };
    let nodes = vec![
        node("Reshape", &["x", "minus1"], &["flat"], vec![]),
        node("Shape", &["flat"], &["s"], vec![]),
        node("ConstantOfShape", &["s"], &["c"], vec![value_attr]),
        node("Add", &["flat", "c"], &["y"], vec![]),
    ];
    let proto = model(
        nodes,
        vec![value("x", 1, &[None, Some(3), Some(4)])],
        vec![value("y", 1, &[None])],
        vec![ints("minus1", &[1], &[-1])],
        17,
    );
    let m = kiln_onnx::import_model(&proto, std::path::Path::new(".")).unwrap();
    let uses_expand_as = m.graph.node_ids().any(|id| {
        matches!(
            m.graph.node(id).kind,
            kiln_ir::NodeKind::Op(Op::ExpandAs { .. })
        )
    });
    assert!(
        uses_expand_as,
        "ConstantOfShape of 12*N imports as expand_as"
    );
    for n in [1, 4] {
        let want: Vec<f32> = x_of(n).to_f32().iter().map(|v| v + 2.0).collect();
        assert_eq!(run(&m, n), want, "batch {n}");
    }
}

/// A shape that is neither kiln dims nor another value's whole shape is refused, naming the
/// node and the expression.
#[test]
fn an_unexpressible_shape_is_a_typed_error_naming_the_node() {
    let mut nodes = dim_of("x", "n");
    nodes.push(node("Mul", &["n", "three"], &["n3"], vec![]));
    nodes.push(node(
        "Concat",
        &["n3", "four"],
        &["shape"],
        vec![int_attr("axis", 0)],
    ));
    nodes.push(node("ConstantOfShape", &["shape"], &["y"], vec![]));
    let inits = vec![
        ints("axes0", &[1], &[0]),
        idx_inits("n", 0),
        ints("three", &[1], &[3]),
        ints("four", &[1], &[4]),
    ];
    let proto = model(
        nodes,
        vec![value("x", 1, &[None, Some(3), Some(4)])],
        vec![value("y", 1, &[None, Some(4)])],
        inits,
        17,
    );
    let err = kiln_onnx::import_model(&proto, std::path::Path::new(".")).unwrap_err();
    match &err {
        OnnxError::Node { node, op, msg } => {
            assert_eq!(
                (node.as_str(), op.as_str()),
                ("ConstantOfShape_y", "ConstantOfShape")
            );
            assert!(msg.contains("[3*N, 4]"), "{msg}");
        }
        other => panic!("expected a node error, found {other:?}"),
    }
}

/// Gathering a shape out of range is a typed error, not a panic.
#[test]
fn gathering_a_shape_out_of_range_names_the_index() {
    let nodes = dim_of("x", "n");
    let proto = model(
        nodes,
        vec![value("x", 1, &[None, Some(3), Some(4)])],
        vec![value("n", 7, &[Some(1)])],
        vec![ints("axes0", &[1], &[0]), idx_inits("n", 7)],
        17,
    );
    let err = kiln_onnx::import_model(&proto, std::path::Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("index 7 is out of range"), "{err}");
}
