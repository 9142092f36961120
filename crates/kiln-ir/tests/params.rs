//! Parameters: declared with `param` or `Graph::add_param`, printed back, hashed by name,
//! dtype and shape (their values are never part of the graph), and inputs like any other to
//! shape inference and the interpreter.
use kiln_ir::canon::graph_hash;
use kiln_ir::print::same_structure;
use kiln_ir::{
    BinaryOp, DType, Graph, InputKind, IrError, NodeId, Op, Operand, Tensor, interpret, parse,
    print,
};

fn binary(op: BinaryOp, a: NodeId, b: NodeId) -> Op {
    Op::Binary {
        op,
        a: Operand::Value(a),
        b: Operand::Value(b),
    }
}

const AFFINE: &str = "graph affine\ninput x: f32[N, 4]\nparam w: f32[4]\nparam b: f32[4]\n\
                      m = mul(x, w)\ny = add(m, b)\noutput y\n";

#[test]
fn param_statement_round_trips_through_the_printer() {
    let g = parse(AFFINE).expect("parses");
    let kinds: Vec<InputKind> = g.inputs().iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [InputKind::Data, InputKind::Param, InputKind::Param]);
    let names: Vec<&str> = g.params().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["w", "b"]);
    assert_eq!(g.data_inputs().count(), 1);
    assert_eq!(g.inputs()[1].fixed_shape(), Some(vec![4]));
    let text = print(&g);
    assert!(text.contains("param w: f32[4]\n"), "{text}");
    let back = parse(&text).expect("the printed graph parses");
    assert!(same_structure(&g, &back));
    assert_eq!(graph_hash(&g), graph_hash(&back));
}

#[test]
fn builder_and_text_agree() {
    let mut g = Graph::new("affine");
    let x = g
        .add_input(
            "x",
            DType::F32,
            vec![kiln_shape::Dim::sym("N"), kiln_shape::Dim::Fixed(4)],
        )
        .expect("adds");
    let w = g.add_param("w", DType::F32, &[4]).expect("adds");
    let b = g.add_param("b", DType::F32, &[4]).expect("adds");
    let m = g.add_op("m", binary(BinaryOp::Mul, x, w)).expect("adds");
    let y = g.add_op("y", binary(BinaryOp::Add, m, b)).expect("adds");
    g.set_outputs(vec![y]).expect("sets");
    assert_eq!(graph_hash(&g), graph_hash(&parse(AFFINE).expect("parses")));
}

#[test]
fn a_parameter_is_keyed_by_name_dtype_and_shape() {
    let base = graph_hash(&parse(AFFINE).expect("parses"));
    let variants = [
        // The same tensor as a per-call input: another calling convention.
        AFFINE.replace("param w", "input w"),
        AFFINE.replace("param w: f32[4]", "param w: f32[1]"),
        AFFINE.replace("param w: f32", "param w: f64"),
        AFFINE
            .replace("param w", "param weight")
            .replace("(x, w)", "(x, weight)"),
    ];
    for v in &variants {
        let g = parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_ne!(graph_hash(&g), base, "{v}");
    }
}

#[test]
fn a_parameter_with_a_symbolic_dim_is_refused() {
    let err = parse(&AFFINE.replace("param w: f32[4]", "param w: f32[K]")).unwrap_err();
    match err {
        IrError::Parse { line: 3, msg, .. } => {
            assert!(
                msg.contains("symbol 'K'") && msg.contains("'input'"),
                "{msg}"
            )
        }
        other => panic!("{other:?}"),
    }
    let dup = parse(&AFFINE.replace("param b", "param w")).unwrap_err();
    assert!(dup.to_string().contains("defined twice"), "{dup}");
}

#[test]
fn the_interpreter_takes_parameters_in_declaration_order() {
    let g = parse(AFFINE).expect("parses");
    let x = Tensor::from_f32(&[2, 4], &[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0]);
    let w = Tensor::from_f32(&[4], &[1.0, 0.5, -1.0, 2.0]);
    let b = Tensor::from_f32(&[4], &[0.0, 1.0, 0.0, -1.0]);
    let out = interpret(&g, &[x, w, b]).expect("runs");
    assert_eq!(out[0].to_f32(), [1.0, 2.0, -3.0, 7.0, -1.0, 0.0, 3.0, -9.0]);
}

#[test]
fn the_interpreter_names_a_wrong_parameter_as_one() {
    let g = parse(AFFINE).expect("parses");
    let x = Tensor::from_f32(&[1, 4], &[1.0; 4]);
    let w = Tensor::from_f64(DType::F64, &[4], &[1.0; 4]);
    let b = Tensor::from_f32(&[4], &[0.0; 4]);
    let err = interpret(&g, &[x, w, b]).unwrap_err();
    assert_eq!(
        err,
        IrError::Input(kiln_ir::InputError::Dtype {
            role: kiln_ir::Role::Param,
            name: "w".into(),
            expected: DType::F32,
            found: DType::F64,
        })
    );
    assert_eq!(
        err.to_string(),
        "parameter `w`: expected dtype f32, found f64"
    );
}
