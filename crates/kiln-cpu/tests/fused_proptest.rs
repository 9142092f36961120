//! Random fused elementwise graphs (depth up to 8, random broadcasts and dtypes) compiled and
//! compared with the interpreter.
mod common;

use common::*;
use kiln_ir::{DType, Tensor};
use proptest::prelude::*;

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];
/// Ops that keep values of magnitude ~1 bounded, so that the interpreter's rounding after
/// every op and the backend's rounding at the store stay within a scaled tolerance.
const UNARY: [&str; 8] = [
    "relu", "sigmoid", "tanh", "sin", "cos", "neg", "abs", "silu",
];
const BINARY: [&str; 5] = ["add", "sub", "mul", "maximum", "minimum"];

#[derive(Debug, Clone)]
struct Case {
    dims: (usize, usize),
    /// Per input: dtype index and broadcast form (0 full, 1 [1, B], 2 [B], 3 [A, 1], 4 [1]).
    inputs: Vec<(usize, usize)>,
    /// Per step: (is_binary, op index, operand picks).
    steps: Vec<(bool, usize, usize, usize)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..6, 1usize..20),
        prop::collection::vec((0usize..4, 0usize..5), 1..4),
        prop::collection::vec((any::<bool>(), 0usize..8, 0usize..64, 0usize..64), 1..9),
    )
        .prop_map(|(dims, inputs, steps)| Case {
            dims,
            inputs,
            steps,
        })
}

fn shape_of(form: usize, (a, b): (usize, usize)) -> Vec<usize> {
    match form {
        0 => vec![a, b],
        1 => vec![1, b],
        2 => vec![b],
        3 => vec![a, 1],
        _ => vec![1],
    }
}

fn decl(form: usize) -> &'static str {
    match form {
        0 => "[A, B]",
        1 => "[1, B]",
        2 => "[B]",
        3 => "[A, 1]",
        _ => "[1]",
    }
}

fn build(c: &Case) -> (String, Vec<Tensor>, DType) {
    let mut src = String::from("graph p\n");
    let mut names = vec![];
    let mut tensors = vec![];
    let mut loosest = DType::F64;
    for (i, &(d, form)) in c.inputs.iter().enumerate() {
        let dtype = DTYPES[d];
        src.push_str(&format!("input x{i}: {dtype}{}\n", decl(form)));
        names.push(format!("x{i}"));
        tensors.push(tensor(
            dtype,
            &shape_of(form, c.dims),
            i as u64 + 1,
            -2.0,
            2.0,
        ));
        if tolerance(dtype).0 > tolerance(loosest).0 {
            loosest = dtype;
        }
    }
    // Make sure A and B are bound by some input: add a full-shape f32 input if none is.
    if !c.inputs.iter().any(|&(_, f)| f == 0) {
        let i = names.len();
        src.push_str(&format!("input x{i}: f32[A, B]\n"));
        names.push(format!("x{i}"));
        tensors.push(tensor(DType::F32, &[c.dims.0, c.dims.1], 99, -2.0, 2.0));
        if tolerance(DType::F32).0 > tolerance(loosest).0 {
            loosest = DType::F32;
        }
    }
    for (k, &(binary, op, a, b)) in c.steps.iter().enumerate() {
        let (va, vb) = (&names[a % names.len()], &names[b % names.len()]);
        let line = if binary {
            format!("v{k} = {}({va}, {vb})", BINARY[op % BINARY.len()])
        } else {
            format!("v{k} = {}({va})", UNARY[op % UNARY.len()])
        };
        src.push_str(&line);
        src.push('\n');
        names.push(format!("v{k}"));
    }
    // Outputs: the last value, and the full-shape input so every output is full-shaped
    // or broadcast-derived.
    src.push_str(&format!(
        "output {}\n",
        names.last().expect("at least one step")
    ));
    (src, tensors, loosest)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_fused_graphs_match_the_interpreter(c in case()) {
        let (src, inputs, loosest) = build(&c);
        let g = match kiln_ir::parse(&src) {
            Ok(g) => g,
            // Every combination should parse; a generator bug must not pass silently.
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{src}"))),
        };
        let (compiled, _) = compile(&g, &inputs, &kiln_shape::Policy::Static);
        let want = kiln_ir::interpret(&g, &inputs).expect("interpret");
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = compiled.run(&refs).expect("run");
        // The interpreter rounds after every op, the backend only at casts and stores:
        // allow the loosest input dtype's tolerance per op of depth, relative to magnitude 1.
        let (rel, _) = tolerance(loosest);
        let tol = rel * (c.steps.len() as f64 + 1.0) * 2.0;
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(&g.shape, &w.shape);
            prop_assert_eq!(g.dtype, w.dtype);
            let (rel_out, _) = tolerance(w.dtype);
            for (a, b) in g.to_f64().iter().zip(w.to_f64()) {
                let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= (tol + rel_out) * (1.0 + b.abs());
                prop_assert!(ok, "got {} expected {} in\n{}", a, b, src);
            }
        }
    }
}
