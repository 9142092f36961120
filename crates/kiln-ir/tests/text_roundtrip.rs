//! `print` then `parse_unchecked` gives back the same graph, with the same canonical bytes;
//! canonical bytes ignore insertion order, intermediate names and dead nodes.
use kiln_ir::canon::canonical_bytes;
use kiln_ir::parse::parse_unchecked;
use kiln_ir::print::same_structure;
use kiln_ir::{
    BinaryOp, DType, Graph, NodeId, NodeKind, Op, Operand, Pool2d, ReduceOp, SliceBounds, Split,
    Tensor, UnaryOp, print,
};
use kiln_shape::Dim;
use proptest::prelude::*;

#[test]
fn prints_the_issue_example_in_its_own_form() {
    let src = "graph pool_relu
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)
q = mul(p, 0.5)
output p, q
";
    assert_eq!(print(&parse_unchecked(src).unwrap()), src);
}

#[test]
fn prints_defaults_only_where_they_differ() {
    let src = "graph g
input x: f32[N, C, H, W]
a = max_pool2d(x, 2, 2, 0, 1, false)
b = avg_pool2d(x, kernel_size=3, stride=1, count_include_pad=false)
c = sum(x, dim=[1], keepdim=false)
d = amax(x, [2, 3], true)
e = gelu(x, \"tanh\")
f = tensor([[1, 2]], dtype=bool)
h = tensor(-0.0, f64)
z = tensor([], dtype=f64, shape=[2, 0, 1])
k = squeeze(x, None)
m = mul(x, 1e20)
output a, b, c, d, e, f, h, k, m
";
    let expected = "graph g
input x: f32[N, C, H, W]
a = max_pool2d(x, kernel_size=[2, 2])
b = avg_pool2d(x, kernel_size=[3, 3], stride=[1, 1], count_include_pad=false)
c = sum(x, dim=1)
d = amax(x, dim=[2, 3], keepdim=true)
e = gelu(x, approximate=\"tanh\")
f = tensor([[true, true]], dtype=bool)
h = tensor(-0.0, dtype=f64)
z = tensor([], dtype=f64, shape=[2, 0, 1])
k = squeeze(x)
m = mul(x, 1e20)
output a, b, c, d, e, f, h, k, m
";
    let g = parse_unchecked(src).unwrap();
    assert_eq!(print(&g), expected);
    assert!(same_structure(&parse_unchecked(expected).unwrap(), &g));
}

#[test]
fn same_structure_notices_differences() {
    let base = "graph g\ninput x: f32[N]\ny = mul(x, 2.0)\noutput y";
    let a = parse_unchecked(base).unwrap();
    assert!(same_structure(&a, &parse_unchecked(base).unwrap()));
    for other in [
        "graph h\ninput x: f32[N]\ny = mul(x, 2.0)\noutput y",
        "graph g\ninput x: f32[M]\ny = mul(x, 2.0)\noutput y",
        "graph g\ninput x: f32[N]\ny = mul(x, 3.0)\noutput y",
        "graph g\ninput x: f32[N]\nz = mul(x, 2.0)\noutput z",
        "graph g\ninput x: f32[N]\ny = mul(x, 2.0)\noutput y, x",
    ] {
        assert!(
            !same_structure(&a, &parse_unchecked(other).unwrap()),
            "{other}"
        );
    }
}

const SYMBOLS: [&str; 4] = ["N", "C", "H", "W"];

/// One generated input: a dtype index and dims (`Ok` fixed size, `Err` symbol index).
type InputPlan = (usize, Vec<Result<i64, usize>>);
/// One generated statement: op family, three picks, a scalar, a small int and a flag.
type StepPlan = (u8, [usize; 3], f64, i64, bool);

fn scalar_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_map(|v| if v.is_nan() { f64::NAN } else { v }),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::NAN),
        (-100i32..100).prop_map(f64::from),
    ]
}

fn plan_strategy() -> impl Strategy<Value = (Vec<InputPlan>, Vec<StepPlan>, Vec<usize>)> {
    let dim = prop_oneof![(0i64..9).prop_map(Ok), (0usize..4).prop_map(Err)];
    let input = (0usize..5, prop::collection::vec(dim, 0..5));
    let step = (
        0u8..15,
        [any::<usize>(), any::<usize>(), any::<usize>()],
        scalar_strategy(),
        -4i64..5,
        any::<bool>(),
    );
    (
        prop::collection::vec(input, 1..4),
        prop::collection::vec(step, 0..16),
        prop::collection::vec(any::<usize>(), 1..4),
    )
}

fn pick<T: Copy>(items: &[T], i: usize) -> T {
    items[i % items.len()]
}

fn dims_of(small: i64, n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| (i + small) % 4).collect()
}

/// A gradient-family op of `x` and `y` (the `like` or `src`), every `slice_scatter` form.
fn grad_op(x: NodeId, y: NodeId, q: usize, small: i64, flag: bool) -> Op {
    let dim = small % 3;
    let bounds = match q / 6 % 3 {
        0 => SliceBounds::Range {
            start: flag.then_some(small),
            end: (!flag).then_some(small + 2),
            step: 1 + small.abs() % 3,
        },
        1 => SliceBounds::Narrow {
            start: small,
            length: (q % 3) as i64,
        },
        _ => SliceBounds::Part {
            split: match q % 3 {
                0 => Split::Size(2),
                1 => Split::Sections(vec![1, small.abs()]),
                _ => Split::Chunks(3),
            },
            index: q % 2,
            count: 2 + q % 2,
        },
    };
    match q % 5 {
        4 => Op::CatPart {
            x,
            parts: vec![y, x],
            dim,
            index: q % 2,
        },
        0 => Op::SumTo { x, like: y },
        1 => Op::ExpandAs { x, like: y },
        2 => Op::ReshapeAs { x, like: y },
        _ => Op::SliceScatter {
            input: x,
            src: y,
            dim,
            bounds,
        },
    }
}

/// Builds a graph from a plan; every op reads earlier nodes and has arguments of the right kind.
fn build((inputs, steps, outputs): &(Vec<InputPlan>, Vec<StepPlan>, Vec<usize>)) -> Graph {
    let mut g = Graph::new("generated");
    for (i, (dtype, dims)) in inputs.iter().enumerate() {
        let dims = dims
            .iter()
            .map(|d| match d {
                Ok(v) => Dim::Fixed(*v),
                Err(s) => Dim::Sym(SYMBOLS[*s].to_string()),
            })
            .collect();
        g.add_input(&format!("in{i}"), DType::ALL[*dtype], dims)
            .unwrap();
    }
    let sizes = |k: i64| {
        vec![
            Dim::Sym(pick(&SYMBOLS, k.unsigned_abs() as usize).to_string()),
            Dim::Fixed(-1),
            Dim::Fixed(k),
        ]
    };
    for (j, &(family, [p, q, r], scalar, small, flag)) in steps.iter().enumerate() {
        let n = g.len();
        let v = |i: usize| NodeId::new(i % n);
        let x = v(p);
        let pool = Pool2d {
            kernel_size: [small.abs() + 1, 2],
            stride: [1, small.abs() + 1],
            padding: [0, small.abs() % 2],
            dilation: if family == 7 {
                [1, small.abs() + 1]
            } else {
                [1, 1]
            },
            ceil_mode: flag,
            count_include_pad: family == 7 || !flag,
            divisor_override: None,
        };
        let name = format!("v{j}");
        let op = match family {
            0 => Op::Unary {
                op: pick(&UnaryOp::ALL, q),
                x,
            },
            1 => Op::Binary {
                op: pick(&BinaryOp::ALL, q),
                a: Operand::Value(x),
                b: Operand::Value(v(r)),
            },
            2 if flag => Op::Binary {
                op: pick(&BinaryOp::ALL, q),
                a: Operand::Scalar(scalar),
                b: Operand::Value(x),
            },
            2 => Op::Binary {
                op: pick(&BinaryOp::ALL, q),
                a: Operand::Value(x),
                b: Operand::Scalar(scalar),
            },
            3 => Op::Where {
                cond: Operand::Value(v(q)),
                a: Operand::Value(x),
                b: Operand::Scalar(scalar),
            },
            4 => Op::Cast {
                x,
                dtype: pick(&DType::ALL, q),
            },
            5 => Op::Reduce {
                op: pick(
                    &[
                        ReduceOp::Sum,
                        ReduceOp::Mean,
                        ReduceOp::Amax,
                        ReduceOp::Amin,
                    ],
                    q,
                ),
                x,
                dims: dims_of(small, r % 3),
                keepdim: flag,
            },
            6 => Op::Softmax { x, dim: small },
            7 => Op::MaxPool2d { x, params: pool },
            8 => Op::AvgPool2d { x, params: pool },
            9 if flag => Op::AdaptiveAvgPool2d {
                x,
                output_size: [small.abs() + 1, 3],
            },
            9 => Op::AdaptiveMaxPool2d {
                x,
                output_size: [1, small.abs() + 1],
            },
            10 => Op::Reshape {
                x,
                shape: sizes(small),
            },
            11 if flag => Op::Permute {
                x,
                dims: dims_of(small, q % 4),
            },
            11 => Op::Transpose {
                x,
                dim0: small,
                dim1: (small + 1) % 3,
            },
            12 => match q % 4 {
                0 => Op::Unsqueeze { x, dim: small },
                1 => Op::Squeeze { x, dims: None },
                2 => Op::Squeeze {
                    x,
                    dims: Some(if small == 0 { vec![0, -1] } else { vec![small] }),
                },
                _ => Op::Expand {
                    x,
                    shape: sizes(small),
                },
            },
            13 => grad_op(x, v(r), q, small, flag),
            _ => {
                let shape = [q % 3, r % 3];
                let values: Vec<f64> = (0..shape[0] * shape[1])
                    .map(|i| scalar + i as f64)
                    .collect();
                g.add_constant(
                    &name,
                    Tensor::from_f64(pick(&DType::ALL, p), &shape, &values),
                )
                .unwrap();
                continue;
            }
        };
        g.add_op(&name, op).unwrap();
    }
    let outs = outputs.iter().map(|&o| NodeId::new(o % g.len())).collect();
    g.set_outputs(outs).unwrap();
    g
}

/// Rebuilds `g` in another topological order (drawn from `choices`), with every
/// intermediate value renamed and a dead node added: the same computation.
fn reorder_and_rename(g: &Graph, choices: &[usize]) -> Graph {
    let mut out = Graph::new("another name");
    let mut new_id: Vec<Option<NodeId>> = vec![None; g.len()];
    for id in g.node_ids() {
        if let NodeKind::Input(i) = g.node(id).kind {
            let decl = &g.inputs()[i];
            new_id[id.index()] = Some(
                out.add_input(&decl.name, decl.dtype, decl.dims.clone())
                    .unwrap(),
            );
        }
    }
    let outputs: Vec<NodeId> = g.outputs().to_vec();
    let mut step = 0;
    loop {
        let ready: Vec<NodeId> = g
            .node_ids()
            .filter(|&id| new_id[id.index()].is_none())
            .filter(|&id| match &g.node(id).kind {
                NodeKind::Op(op) => op.inputs().iter().all(|i| new_id[i.index()].is_some()),
                _ => true,
            })
            .collect();
        if ready.is_empty() {
            break;
        }
        let id = ready[choices.get(step).copied().unwrap_or(0) % ready.len()];
        step += 1;
        let node = g.node(id);
        let name = if outputs.contains(&id) {
            node.name.clone()
        } else {
            format!("renamed_{}", node.name)
        };
        let added = match &node.kind {
            NodeKind::Op(op) => {
                let map = |i: NodeId| new_id[i.index()].unwrap_or(i);
                out.add_op(&name, op.map_inputs(&map)).unwrap()
            }
            NodeKind::Constant(t) => out.add_constant(&name, t.clone()).unwrap(),
            NodeKind::Input(_) => unreachable!("inputs were added first"),
        };
        new_id[id.index()] = Some(added);
        if step == 1 {
            let first = out.node_ids().next().unwrap();
            out.add_op(
                "dead_code",
                Op::Unary {
                    op: UnaryOp::Exp,
                    x: first,
                },
            )
            .unwrap();
        }
    }
    let outs = outputs.iter().map(|o| new_id[o.index()].unwrap()).collect();
    out.set_outputs(outs).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_then_parse_round_trips(plan in plan_strategy()) {
        let g = build(&plan);
        let text = print(&g);
        let back = parse_unchecked(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(same_structure(&back, &g), "{}", text);
        prop_assert_eq!(canonical_bytes(&back), canonical_bytes(&g));
        prop_assert_eq!(print(&back), text);
    }

    #[test]
    fn canonical_bytes_ignore_order_names_and_dead_code(
        plan in plan_strategy(),
        choices in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let g = build(&plan);
        let other = reorder_and_rename(&g, &choices);
        prop_assert_eq!(canonical_bytes(&other), canonical_bytes(&g), "{}\n{}", print(&g), print(&other));
    }
}
