//! Parsing every statement kind and every op of the `.kiln` format.
mod interp_common;

use interp_common::pool2d_params;
use kiln_ir::parse::{parse, parse_unchecked};
use kiln_ir::{BinaryOp, DType, Graph, NodeKind, Op, Operand, Pool2d, ReduceOp, Tensor, UnaryOp};
use kiln_shape::Dim;

fn sym(s: &str) -> Dim {
    Dim::Sym(s.to_string())
}

fn op<'g>(g: &'g Graph, name: &str) -> &'g Op {
    match &g.node(g.find(name).expect("node exists")).kind {
        NodeKind::Op(op) => op,
        other => panic!("{name} is not an op: {other:?}"),
    }
}

/// Parses `body` after a header declaring `x: f32[N, C, H, W]` and `m: bool[N, C, H, W]`,
/// with output `out`, and returns the graph.
fn with_x(body: &str) -> Graph {
    let src =
        format!("graph t\ninput x: f32[N, C, H, W]\ninput m: bool[N, C, H, W]\n{body}\noutput out");
    parse_unchecked(&src).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn out_op(body: &str) -> Op {
    let g = with_x(body);
    op(&g, "out").clone()
}

#[test]
fn issue_example_parses() {
    let src = "graph pool_relu
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)
q = mul(p, 0.5)
output p, q
";
    let g = parse(src).unwrap();
    assert_eq!(g.name, "pool_relu");
    assert_eq!(g.inputs().len(), 2);
    assert_eq!(
        g.inputs()[1].dims,
        vec![Dim::Fixed(1), sym("C"), Dim::Fixed(1), Dim::Fixed(1)]
    );
    assert_eq!(g.output_names(), vec!["p", "q"]);
    let (x, s, t, r, p) = ["x", "s", "t", "r", "p"].map(|n| g.find(n).unwrap()).into();
    assert_eq!(
        op(&g, "t"),
        &Op::Binary {
            op: BinaryOp::Mul,
            a: Operand::Value(x),
            b: Operand::Value(s)
        }
    );
    assert_eq!(
        op(&g, "r"),
        &Op::Unary {
            op: UnaryOp::Relu,
            x: t
        }
    );
    assert_eq!(
        op(&g, "p"),
        &Op::MaxPool2d {
            x: r,
            params: Pool2d {
                kernel_size: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
                dilation: [1, 1],
                ceil_mode: true,
                count_include_pad: true,
                divisor_override: None,
            }
        }
    );
    assert_eq!(
        op(&g, "q"),
        &Op::Binary {
            op: BinaryOp::Mul,
            a: Operand::Value(p),
            b: Operand::Scalar(0.5)
        }
    );
}

#[test]
fn seed_graphs_parse() {
    let add2 = parse(
        "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b",
    )
    .unwrap();
    assert_eq!(add2.output_names(), vec!["a", "b"]);
    let x = add2.find("x").unwrap();
    assert_eq!(
        op(&add2, "a"),
        &Op::Binary {
            op: BinaryOp::Add,
            a: Operand::Value(x),
            b: Operand::Value(x)
        }
    );

    let mul =
        parse("graph mul\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\noutput z").unwrap();
    assert!(matches!(
        op(&mul, "z"),
        Op::Binary {
            op: BinaryOp::Mul,
            ..
        }
    ));

    let adaptive =
        parse("graph adaptive\ninput x: f32[N, C, H, W]\nout = adaptive_avg_pool2d(x, [5, 7])\noutput out")
            .unwrap();
    let x = adaptive.find("x").unwrap();
    assert_eq!(
        op(&adaptive, "out"),
        &Op::AdaptiveAvgPool2d {
            x,
            output_size: [5, 7]
        }
    );
}

#[test]
fn statements_comments_and_blank_lines() {
    let src = "# leading comment\n\n  graph  g   # name\ninput s: f64[]\r\ninput b: bool[2, K]\n\nc = tensor([[1.0, 2.0], [3.0, 4.0]], dtype=f16)  # const\nk = tensor(3)\nz = add(s, c)\noutput z, s, z\n# trailing\n";
    let g = parse_unchecked(src).unwrap();
    assert_eq!(g.name, "g");
    assert_eq!(g.inputs()[0].dtype, DType::F64);
    assert!(g.inputs()[0].dims.is_empty());
    assert_eq!(g.inputs()[1].dims, vec![Dim::Fixed(2), sym("K")]);
    assert_eq!(g.output_names(), vec!["z", "s", "z"]);
    let c = &g.node(g.find("c").unwrap()).kind;
    assert_eq!(
        c,
        &NodeKind::Constant(Tensor::from_f64(DType::F16, &[2, 2], &[1.0, 2.0, 3.0, 4.0]))
    );
    let k = &g.node(g.find("k").unwrap()).kind;
    assert_eq!(
        k,
        &NodeKind::Constant(Tensor::from_f64(DType::F32, &[], &[3.0]))
    );
}

#[test]
fn constants_of_every_shape() {
    let kind = |body: &str| {
        with_x(&format!("out = {body}"))
            .node(kind_id())
            .kind
            .clone()
    };
    fn kind_id() -> kiln_ir::NodeId {
        kiln_ir::NodeId::new(2)
    }
    assert_eq!(
        kind("tensor([])"),
        NodeKind::Constant(Tensor::zeros(DType::F32, &[0]))
    );
    assert_eq!(
        kind("tensor([[], []], dtype=f64)"),
        NodeKind::Constant(Tensor::zeros(DType::F64, &[2, 0]))
    );
    assert_eq!(
        kind("tensor([true, false, 1], bool)"),
        NodeKind::Constant(Tensor::from_f64(DType::Bool, &[3], &[1.0, 0.0, 1.0]))
    );
    assert_eq!(
        kind("tensor([], dtype=f16, shape=[0, 3])"),
        NodeKind::Constant(Tensor::zeros(DType::F16, &[0, 3]))
    );
    assert_eq!(
        kind("tensor([1, 2, 3, 4], shape=[2, 2])"),
        NodeKind::Constant(Tensor::from_f64(DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]))
    );
    assert_eq!(
        kind("tensor([[[-inf], [nan]]], dtype=bf16)").clone(),
        kind("tensor(data=[[[-inf], [nan]]], dtype=bf16)")
    );
}

#[test]
fn every_unary_op() {
    let x = kiln_ir::NodeId::new(0);
    for u in UnaryOp::ALL {
        if matches!(u, UnaryOp::Gelu | UnaryOp::GeluTanh) {
            continue;
        }
        assert_eq!(
            out_op(&format!("out = {}(x)", u.name())),
            Op::Unary { op: u, x }
        );
        assert_eq!(
            out_op(&format!("out = {}(input=x)", u.name())),
            Op::Unary { op: u, x }
        );
    }
    assert_eq!(
        out_op("out = gelu(x)"),
        Op::Unary {
            op: UnaryOp::Gelu,
            x
        }
    );
    assert_eq!(
        out_op("out = gelu(x, approximate=\"none\")"),
        Op::Unary {
            op: UnaryOp::Gelu,
            x
        }
    );
    assert_eq!(
        out_op("out = gelu(x, approximate=\"tanh\")"),
        Op::Unary {
            op: UnaryOp::GeluTanh,
            x
        }
    );
    assert_eq!(
        out_op("out = gelu(x, \"tanh\")"),
        Op::Unary {
            op: UnaryOp::GeluTanh,
            x
        }
    );
}

#[test]
fn every_binary_op_and_scalar_literals() {
    let x = Operand::Value(kiln_ir::NodeId::new(0));
    for b in BinaryOp::ALL {
        let got = out_op(&format!("out = {}(x, x)", b.name()));
        assert_eq!(got, Op::Binary { op: b, a: x, b: x });
    }
    let scalar = |lit: &str| match out_op(&format!("out = sub({lit}, x)")) {
        Op::Binary {
            a: Operand::Scalar(v),
            b,
            ..
        } if b == x => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(scalar("2.0"), 2.0);
    assert_eq!(scalar("-1"), -1.0);
    assert_eq!(scalar("1e-3"), 1e-3);
    assert_eq!(scalar("inf"), f64::INFINITY);
    assert_eq!(scalar("-inf"), f64::NEG_INFINITY);
    assert!(scalar("nan").is_nan());
    assert_eq!(scalar("-0.0").to_bits(), (-0.0f64).to_bits());
    assert_eq!(
        out_op("out = pow(x, exponent=2)"),
        Op::Binary {
            op: BinaryOp::Pow,
            a: x,
            b: Operand::Scalar(2.0)
        }
    );
    assert_eq!(
        out_op("out = add(other=x, input=3.5)"),
        Op::Binary {
            op: BinaryOp::Add,
            a: Operand::Scalar(3.5),
            b: x
        }
    );
}

#[test]
fn where_and_cast() {
    let (x, m) = (kiln_ir::NodeId::new(0), kiln_ir::NodeId::new(1));
    assert_eq!(
        out_op("out = where(m, x, 0.0)"),
        Op::Where {
            cond: Operand::Value(m),
            a: Operand::Value(x),
            b: Operand::Scalar(0.0)
        }
    );
    assert_eq!(
        out_op("out = where(1.0, other=x, input=2)"),
        Op::Where {
            cond: Operand::Scalar(1.0),
            a: Operand::Scalar(2.0),
            b: Operand::Value(x)
        }
    );
    for d in DType::ALL {
        assert_eq!(
            out_op(&format!("out = to(x, dtype={d})")),
            Op::Cast { x, dtype: d }
        );
        assert_eq!(
            out_op(&format!("out = to(x, {d})")),
            Op::Cast { x, dtype: d }
        );
    }
}

#[test]
fn reductions_and_softmax() {
    let x = kiln_ir::NodeId::new(0);
    for (name, r) in [
        ("sum", ReduceOp::Sum),
        ("mean", ReduceOp::Mean),
        ("amax", ReduceOp::Amax),
        ("amin", ReduceOp::Amin),
    ] {
        let red = |dims: Vec<i64>, keepdim| Op::Reduce {
            op: r,
            x,
            dims,
            keepdim,
        };
        assert_eq!(out_op(&format!("out = {name}(x)")), red(vec![], false));
        assert_eq!(
            out_op(&format!("out = {name}(x, None)")),
            red(vec![], false)
        );
        assert_eq!(
            out_op(&format!("out = {name}(x, dim=[])")),
            red(vec![], false)
        );
        assert_eq!(
            out_op(&format!("out = {name}(x, -1)")),
            red(vec![-1], false)
        );
        assert_eq!(
            out_op(&format!("out = {name}(x, dim=[1, 2], keepdim=true)")),
            red(vec![1, 2], true)
        );
        assert_eq!(
            out_op(&format!("out = {name}(x, [0], false)")),
            red(vec![0], false)
        );
    }
    assert_eq!(out_op("out = softmax(x, -1)"), Op::Softmax { x, dim: -1 });
    assert_eq!(out_op("out = softmax(x, dim=1)"), Op::Softmax { x, dim: 1 });
}

#[test]
fn pooling() {
    let x = kiln_ir::NodeId::new(0);
    assert_eq!(
        out_op("out = max_pool2d(x, 3)"),
        Op::MaxPool2d {
            x,
            params: pool2d_params([3, 3], [3, 3], [0, 0], [1, 1], false, true)
        }
    );
    assert_eq!(
        out_op("out = max_pool2d(x, [3, 2], None, 1, [2, 1], true)"),
        Op::MaxPool2d {
            x,
            params: pool2d_params([3, 2], [3, 2], [1, 1], [2, 1], true, true)
        }
    );
    assert_eq!(
        out_op("out = max_pool2d(x, stride=2, kernel_size=3)"),
        Op::MaxPool2d {
            x,
            params: pool2d_params([3, 3], [2, 2], [0, 0], [1, 1], false, true)
        }
    );
    assert_eq!(
        out_op("out = avg_pool2d(x, 2)"),
        Op::AvgPool2d {
            x,
            params: pool2d_params([2, 2], [2, 2], [0, 0], [1, 1], false, true)
        }
    );
    assert_eq!(
        out_op("out = avg_pool2d(x, [3, 3], [1, 2], [1, 0], true, false)"),
        Op::AvgPool2d {
            x,
            params: pool2d_params([3, 3], [1, 2], [1, 0], [1, 1], true, false)
        }
    );
    assert_eq!(
        out_op("out = adaptive_avg_pool2d(x, output_size=1)"),
        Op::AdaptiveAvgPool2d {
            x,
            output_size: [1, 1]
        }
    );
    assert_eq!(
        out_op("out = adaptive_max_pool2d(x, [2, 3])"),
        Op::AdaptiveMaxPool2d {
            x,
            output_size: [2, 3]
        }
    );
}

#[test]
fn layout_ops() {
    let x = kiln_ir::NodeId::new(0);
    assert_eq!(
        out_op("out = reshape(x, [N, -1, 4])"),
        Op::Reshape {
            x,
            shape: vec![sym("N"), Dim::Fixed(-1), Dim::Fixed(4)]
        }
    );
    assert_eq!(
        out_op("out = reshape(x, shape=[])"),
        Op::Reshape { x, shape: vec![] }
    );
    assert_eq!(
        out_op("out = permute(x, [0, 2, 3, 1])"),
        Op::Permute {
            x,
            dims: vec![0, 2, 3, 1]
        }
    );
    assert_eq!(
        out_op("out = transpose(x, dim1=-1, dim0=1)"),
        Op::Transpose {
            x,
            dim0: 1,
            dim1: -1
        }
    );
    assert_eq!(out_op("out = unsqueeze(x, 0)"), Op::Unsqueeze { x, dim: 0 });
    assert_eq!(out_op("out = squeeze(x)"), Op::Squeeze { x, dims: None });
    assert_eq!(
        out_op("out = squeeze(x, dim=None)"),
        Op::Squeeze { x, dims: None }
    );
    assert_eq!(
        out_op("out = squeeze(x, 2)"),
        Op::Squeeze {
            x,
            dims: Some(vec![2])
        }
    );
    assert_eq!(
        out_op("out = squeeze(x, dim=[0, -2])"),
        Op::Squeeze {
            x,
            dims: Some(vec![0, -2])
        }
    );
    assert_eq!(
        out_op("out = expand(x, size=[2, N, -1, H, W])"),
        Op::Expand {
            x,
            shape: vec![Dim::Fixed(2), sym("N"), Dim::Fixed(-1), sym("H"), sym("W")]
        }
    );
}

#[test]
fn keywords_are_assignments_when_followed_by_equals() {
    let g = parse_unchecked(
        "graph g\ninput input: f32[2]\noutput = relu(input)\ngraph2 = neg(output)\noutput output, graph2",
    )
    .unwrap();
    assert_eq!(g.output_names(), vec!["output", "graph2"]);
}
