//! The pool backward family in the text format and the reference interpreter: hand-computed
//! scatters (each case's comment lists its windows), printing that parses back to the same
//! graph, and the typed errors of bad operands and parameters.
use kiln_ir::{DType, IrError, Tensor, interpret, parse, print};

/// `dx = CALL` over `x: DT[xs]` and `g: DT[gs]`.
fn text(dtype: &str, xs: &str, gs: &str, call: &str) -> String {
    format!("graph pg\ninput x: {dtype}[{xs}]\ninput g: {dtype}[{gs}]\ndx = {call}\noutput dx\n")
}

fn run(call: &str, x: (&[usize], &[f64]), g: (&[usize], &[f64])) -> Result<Vec<f64>, IrError> {
    let dims = |s: &[usize]| {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let graph = parse(&text("f64", &dims(x.0), &dims(g.0), call))?;
    let inputs = [
        Tensor::from_f64(DType::F64, x.0, x.1),
        Tensor::from_f64(DType::F64, g.0, g.1),
    ];
    Ok(interpret(&graph, &inputs)?[0].to_f64())
}

#[test]
fn max_backward_sends_each_window_to_its_maximum_and_accumulates_overlaps() {
    // W=5, k=3, s=1: windows [0,2] [1,3] [2,4]; maxima at 1 (5.0), 1 (5.0), 4 (7.0).
    let x = [1.0, 5.0, 2.0, 0.0, 7.0];
    let got = run(
        "max_pool2d_backward(g, x, [1, 3], stride=1)",
        (&[1, 1, 1, 5], &x),
        (&[1, 1, 1, 3], &[10.0, 20.0, 30.0]),
    )
    .unwrap();
    assert_eq!(got, vec![0.0, 30.0, 0.0, 0.0, 30.0]);
    // Ties: the first maximum; a NaN replaces it, the last NaN wins (PyTorch's indices).
    let x = [2.0, 2.0, f64::NAN, 1.0, f64::NAN, 2.0];
    let got = run(
        "max_pool2d_backward(g, x, [1, 2])",
        (&[1, 1, 1, 6], &x),
        (&[1, 1, 1, 3], &[1.0, 2.0, 3.0]),
    )
    .unwrap();
    assert_eq!(got, vec![1.0, 0.0, 2.0, 0.0, 3.0, 0.0]);
}

#[test]
fn avg_backward_divides_by_the_forward_divisor() {
    // W=4, k=3, s=2, p=1, ceil_mode: windows [-1,1] [1,3] [3,5]; the last one's 5 is past the
    // padded input (overhang), so its size is 2 with count_include_pad, 1 without.
    let call = |cip: &str| {
        format!(
            "avg_pool2d_backward(g, x, [1, 3], stride=[1, 2], padding=[0, 1], ceil_mode=true, \
             count_include_pad={cip})"
        )
    };
    let g = [6.0, 12.0, 24.0];
    let x = (&[1usize, 1, 1, 4][..], &[0.0; 4][..]);
    let with = run(&call("true"), x, (&[1, 1, 1, 3], &g)).unwrap();
    assert_eq!(with, vec![2.0, 2.0 + 4.0, 4.0, 4.0 + 12.0]);
    let without = run(&call("false"), x, (&[1, 1, 1, 3], &g)).unwrap();
    assert_eq!(without, vec![3.0, 3.0 + 4.0, 4.0, 4.0 + 24.0]);
    let over = run(
        "avg_pool2d_backward(g, x, [1, 2], divisor_override=4)",
        x,
        (&[1, 1, 1, 2], &[8.0, 4.0]),
    )
    .unwrap();
    assert_eq!(over, vec![2.0, 2.0, 1.0, 1.0]);
}

#[test]
fn adaptive_backward_uses_pytorchs_windows() {
    // W=5 to 2: windows [0,3) and [2,5), overlapping at 2.
    let x = (&[1usize, 1, 1, 5][..], &[4.0, 1.0, 3.0, 9.0, 2.0][..]);
    let g = (&[1usize, 1, 1, 2][..], &[3.0, 6.0][..]);
    let avg = run("adaptive_avg_pool2d_backward(g, x)", x, g).unwrap();
    assert_eq!(avg, vec![1.0, 1.0, 3.0, 2.0, 2.0]);
    let max = run("adaptive_max_pool2d_backward(g, x)", x, g).unwrap();
    assert_eq!(max, vec![3.0, 0.0, 0.0, 6.0, 0.0]);
}

#[test]
fn printing_parses_back_to_the_same_graph() {
    for call in [
        "max_pool2d_backward(g, x, 3, stride=2, padding=1, dilation=2, ceil_mode=true)",
        "avg_pool2d_backward(g, x, [3, 2], count_include_pad=false, divisor_override=3)",
        "adaptive_avg_pool2d_backward(g, x)",
        "adaptive_max_pool2d_backward(g, x)",
    ] {
        let g = parse(&text("f32", "N, C, H, W", "N, C, 3, 3", call)).unwrap();
        let printed = print(&g);
        let again = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(print(&again), printed);
        assert!(
            printed.contains(call.split('(').next().unwrap()),
            "{printed}"
        );
    }
}

fn error(dtype: &str, xs: &str, gs: &str, call: &str) -> String {
    let graph = match parse(&text(dtype, xs, gs, call)) {
        Ok(g) => g,
        Err(e) => return e.to_string(),
    };
    let x: Vec<usize> = xs.split(", ").map(|d| d.parse().unwrap()).collect();
    let g: Vec<usize> = gs.split(", ").map(|d| d.parse().unwrap()).collect();
    let dt = DType::parse(dtype).unwrap();
    let inputs = [
        Tensor::from_f64(dt, &x, &vec![0.0; x.iter().product()]),
        Tensor::from_f64(dt, &g, &vec![0.0; g.iter().product()]),
    ];
    interpret(&graph, &inputs).expect_err("refused").to_string()
}

#[test]
fn bad_operands_and_parameters_are_typed_errors_naming_the_node() {
    let cases = [
        (
            "f32",
            "1, 2, 4, 4",
            "1, 2, 2, 3",
            "max_pool2d_backward(g, x, 2)",
            "grad_output has shape [1, 2, 2, 3] but the forward pooling gives [1, 2, 2, 2]",
        ),
        (
            "f32",
            "1, 2, 4, 4",
            "2, 2, 2",
            "avg_pool2d_backward(g, x, 2)",
            "grad_output has rank 3 but input has rank 4",
        ),
        (
            "i64",
            "1, 2, 4, 4",
            "1, 2, 2, 2",
            "avg_pool2d_backward(g, x, 2)",
            "needs a float input",
        ),
        (
            "f32",
            "1, 2, 4, 4",
            "1, 2, 2, 2",
            "max_pool2d_backward(g, x, 2, padding=2)",
            "at most half",
        ),
        (
            "f32",
            "1, 2, 4, 4",
            "1, 2, 2, 2",
            "avg_pool2d_backward(g, x, 2, divisor_override=0)",
            "divisor must be not zero",
        ),
        (
            "f32",
            "1, 2, 4, 4",
            "1, 3, 2, 2",
            "adaptive_avg_pool2d_backward(g, x)",
            "dim 1 is 3, expected 2",
        ),
    ];
    for (dtype, xs, gs, call, want) in cases {
        let msg = error(dtype, xs, gs, call);
        assert!(msg.contains(want) && msg.contains("dx"), "{call}: {msg}");
    }
}
