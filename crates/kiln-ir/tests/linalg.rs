//! The matmul family in the IR: the reference interpreter against hand-computed products,
//! the composites' expansion of torch.matmul's 1-D cases, and the typed errors of bad input
//! (PyTorch's wording where it has one).
use kiln_ir::{DType, IrError, Tensor, interpret, parse};

fn run(text: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    interpret(&parse(text)?, inputs)
}

fn t(dtype: DType, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, v)
}

fn two(a: &str, b: &str, body: &str) -> String {
    format!("graph g\ninput a: {a}\ninput b: {b}\n{body}\noutput y\n")
}

fn err(text: &str, inputs: &[Tensor]) -> String {
    match run(text, inputs) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn mm_of_two_matrices() {
    // [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[2,-1]] = [[1+6, 2-3], [4+12, 5-6]]
    let a = t(DType::F32, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = t(DType::F32, &[3, 2], &[1., 0., 0., 1., 2., -1.]);
    let y = run(&two("f32[2, 3]", "f32[3, 2]", "y = mm(a, b)"), &[a, b]).unwrap();
    assert_eq!(y[0].shape, [2, 2]);
    assert_eq!(y[0].to_f64(), [7., -1., 16., -1.]);
}

#[test]
fn matmul_one_d_cases_squeeze_the_added_dims() {
    let v = t(DType::F64, &[3], &[1., 2., 3.]);
    let w = t(DType::F64, &[3], &[4., 5., 6.]);
    let m = t(DType::F64, &[2, 3], &[1., 0., 0., 0., 1., 1.]);
    let dot = run(
        &two("f64[3]", "f64[3]", "y = matmul(a, b)"),
        &[v.clone(), w],
    )
    .unwrap();
    assert_eq!((dot[0].shape.clone(), dot[0].to_f64()), (vec![], vec![32.]));
    let mv = run(
        &two("f64[2, 3]", "f64[3]", "y = matmul(a, b)"),
        &[m.clone(), v.clone()],
    );
    let mv = mv.unwrap();
    assert_eq!(
        (mv[0].shape.clone(), mv[0].to_f64()),
        (vec![2], vec![1., 5.])
    );
    // [1, 2] @ [[1,0,0],[0,1,1]] = [1, 2, 2]
    let u = t(DType::F64, &[2], &[1., 2.]);
    let vm = run(&two("f64[2]", "f64[2, 3]", "y = matmul(a, b)"), &[u, m]).unwrap();
    assert_eq!(
        (vm[0].shape.clone(), vm[0].to_f64()),
        (vec![3], vec![1., 2., 2.])
    );
}

#[test]
fn batched_matmul_broadcasts_batch_dims() {
    // a: [2, 1, 1, 2] (two rows), b: [3, 2, 1] (three columns) -> [2, 3, 1, 1]
    let a = t(DType::F32, &[2, 1, 1, 2], &[1., 2., 3., 4.]);
    let b = t(DType::F32, &[3, 2, 1], &[1., 0., 0., 1., 1., 1.]);
    let y = run(
        &two("f32[2, 1, 1, 2]", "f32[3, 2, 1]", "y = matmul(a, b)"),
        &[a, b],
    )
    .unwrap();
    assert_eq!(y[0].shape, [2, 3, 1, 1]);
    // row [1,2] against columns [1,0], [0,1], [1,1]; then row [3,4]
    assert_eq!(y[0].to_f64(), [1., 2., 3., 3., 4., 7.]);
}

#[test]
fn low_precision_products_accumulate_wide_and_round_once() {
    // 1 + 2^-11 + 2^-11 is 1 + 2^-10, an f16 value; summing in f16 would round each
    // partial sum 1 + 2^-11 back to 1 (ties to even) and give 1.
    let tiny = 2f64.powi(-11);
    let a = t(DType::F16, &[1, 3], &[1., tiny, tiny]);
    let b = t(DType::F16, &[3, 1], &[1., 1., 1.]);
    let y = run(&two("f16[1, 3]", "f16[3, 1]", "y = matmul(a, b)"), &[a, b]).unwrap();
    assert_eq!(y[0].dtype, DType::F16);
    assert_eq!(y[0].to_f64(), [1. + 2f64.powi(-10)]);
}

#[test]
fn linear_transposes_the_weight_and_adds_the_bias() {
    let text = "graph g\ninput x: f32[2, 3]\ninput w: f32[2, 3]\ninput b: f32[2]\n\
                y = linear(x, w, b)\noutput y\n";
    let x = t(DType::F32, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let w = t(DType::F32, &[2, 3], &[1., 1., 1., 1., 0., -1.]);
    let b = t(DType::F32, &[2], &[10., 20.]);
    let y = run(text, &[x, w, b]).unwrap();
    // x @ w.T = [[6, -2], [15, -2]], plus the bias per column
    assert_eq!(y[0].to_f64(), [16., 18., 25., 18.]);
    let no_bias =
        "graph g\ninput x: f32[3]\ninput w: f32[2, 3]\ny = linear(x, w, None)\noutput y\n";
    let x = t(DType::F32, &[3], &[1., 2., 3.]);
    let w = t(DType::F32, &[2, 3], &[1., 1., 1., 1., 0., -1.]);
    let y = run(no_bias, &[x, w]).unwrap();
    assert_eq!(
        (y[0].shape.clone(), y[0].to_f64()),
        (vec![2], vec![6., -2.])
    );
}

#[test]
fn addmm_scales_both_terms_and_beta_zero_ignores_the_input() {
    let text = |beta: &str| {
        format!(
            "graph g\ninput c: f32[2]\ninput a: f32[2, 2]\ninput b: f32[2, 2]\n\
             y = addmm(c, a, b, beta={beta}, alpha=2)\noutput y\n"
        )
    };
    let a = t(DType::F32, &[2, 2], &[1., 2., 3., 4.]);
    let b = t(DType::F32, &[2, 2], &[1., 0., 0., 1.]);
    let c = t(DType::F32, &[2], &[1., -1.]);
    let y = run(&text("0.5"), &[c, a.clone(), b.clone()]).unwrap();
    // 0.5 * [1, -1] (per row) + 2 * a
    assert_eq!(y[0].to_f64(), [2.5, 3.5, 6.5, 7.5]);
    let nan = t(DType::F32, &[2], &[f64::NAN, f64::NAN]);
    let y = run(&text("0"), &[nan, a, b]).unwrap();
    assert_eq!(y[0].to_f64(), [2., 4., 6., 8.]);
}

#[test]
fn inner_dims_that_differ_are_refused_with_both_shapes() {
    let a = t(DType::F32, &[2, 3], &[0.; 6]);
    let b = t(DType::F32, &[4, 5], &[0.; 20]);
    let msg = err(&two("f32[2, 3]", "f32[4, 5]", "y = matmul(a, b)"), &[a, b]);
    assert!(
        msg.contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
        "{msg}"
    );
    assert!(msg.contains("node `y` (matmul)"), "names the node: {msg}");
}

#[test]
fn mixed_dtypes_are_refused_as_pytorch_does() {
    let a = t(DType::F64, &[2, 3], &[0.; 6]);
    let b = t(DType::F32, &[3, 5], &[0.; 15]);
    let msg = err(&two("f64[2, 3]", "f32[3, 5]", "y = matmul(a, b)"), &[a, b]);
    assert!(
        msg.contains("expected m1 and m2 to have the same dtype, but got: f64 != f32"),
        "{msg}"
    );
}

#[test]
fn ranks_are_checked_per_op() {
    let cases = [
        (
            "f32[2, 3, 4]",
            "f32[4, 2]",
            "y = mm(a, b)",
            "self must be a matrix, got 3-D tensor",
        ),
        (
            "f32[2, 3]",
            "f32[3]",
            "y = mm(a, b)",
            "mat2 must be a matrix, got 1-D tensor",
        ),
        (
            "f32[2, 3]",
            "f32[2, 3, 4]",
            "y = bmm(a, b)",
            "batch1 must be a 3D tensor, got 2-D",
        ),
        (
            "f32[]",
            "f32[2, 3]",
            "y = matmul(a, b)",
            "at least 1D, but they are 0D and 2D",
        ),
        (
            "f32[2, 3]",
            "f32[2, 3, 4]",
            "y = linear(a, b)",
            "weight must be 1-D or 2-D, got 3-D",
        ),
    ];
    for (sa, sb, body, want) in cases {
        let msg = match parse(&two(sa, sb, body)) {
            Err(e) => e.to_string(),
            Ok(g) => kiln_ir::validate(&g).expect_err(body).to_string(),
        };
        assert!(msg.contains(want), "{body}: {msg}");
    }
}

#[test]
fn integer_and_bool_operands_are_refused() {
    let msg = parse(&two("bool[2, 2]", "bool[2, 2]", "y = matmul(a, b)"))
        .expect_err("bool matmul")
        .to_string();
    assert!(msg.contains("f32, f64, f16 and bf16"), "{msg}");
}

#[test]
fn batch_dims_that_do_not_broadcast_are_refused() {
    let a = t(DType::F32, &[2, 1, 1], &[0.; 2]);
    let b = t(DType::F32, &[3, 1, 1], &[0.; 3]);
    let msg = err(
        &two("f32[2, 1, 1]", "f32[3, 1, 1]", "y = matmul(a, b)"),
        &[a, b],
    );
    assert!(
        msg.contains("batch dims") && msg.contains("cannot broadcast"),
        "{msg}"
    );
}

#[test]
fn the_printed_graph_parses_back_to_the_same_ops() {
    let text = two("f32[4, 3]", "f32[5, 3]", "y = linear(a, b)");
    let g = parse(&text).unwrap();
    let printed = kiln_ir::print(&g);
    let again = parse(&printed).unwrap();
    assert_eq!(kiln_ir::print(&again), printed);
    assert!(printed.contains("matmul(a, "), "{printed}");
}
