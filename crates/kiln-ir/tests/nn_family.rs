//! The nn family in kiln-ir: `flatten`/`unflatten` shape rules over symbolic dims, the
//! composites' values on hand-computed cases (reference interpreter), the text format's
//! round trip, and the typed errors PyTorch raises as errors naming the node.
use kiln_ir::{DType, Graph, IrError, Tensor, TensorType, infer_shapes, interpret, parse, print};
use kiln_shape::{Bindings, Policy, ShapeEnv, bind_symbols, specialize_inputs};

fn graph(src: &str) -> Graph {
    parse(src).unwrap_or_else(|e| panic!("parses: {e}\n{src}"))
}

/// Output shapes (as text) and guards under the dynamic policy.
fn infer(g: &Graph, shapes: &[Vec<i64>]) -> Result<(Vec<String>, String), IrError> {
    let decls = g.input_dims();
    let values: Bindings = bind_symbols(&decls, shapes)?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &decls, &values, &Policy::Dynamic).expect("env");
    let types = infer_shapes(g, &mut env, &inputs)?;
    let show = |t: &TensorType| {
        let parts: Vec<String> = t.shape.iter().map(|e| e.to_string()).collect();
        format!("[{}]", parts.join(", "))
    };
    let outs = g
        .outputs()
        .iter()
        .map(|o| show(&types[o.index()]))
        .collect();
    Ok((outs, env.produce_guards().to_string()))
}

fn f64s(shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64(DType::F64, shape, values)
}

fn run(src: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    interpret(&graph(src), inputs)
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "element {i}: {a} vs {b}"
        );
    }
}

/// The `Invalid` or `Shape` error message of `src` on `inputs`, with the node it names.
fn error(src: &str, inputs: &[Tensor]) -> (String, String) {
    match run(src, inputs) {
        Err(IrError::Invalid { node, msg, .. }) => (node, msg),
        Err(IrError::Shape { node, source, .. }) => (node, source.to_string()),
        other => panic!("expected an error naming a node, got {other:?}"),
    }
}

#[test]
fn flatten_from_1_of_nchw_is_n_by_chw_and_unflatten_splits_a_symbolic_dim() {
    let g = graph(
        "graph f\ninput x: f32[N, C, H, W]\na = flatten(x, start_dim=1)\nb = flatten(x)\n\
         c = flatten(x, 1, 2)\nd = unflatten(x, 1, [2, -1])\ne = unflatten(a, -1, [C, H, W])\n\
         output a, b, c, d, e\n",
    );
    let (outs, guards) = infer(&g, &[vec![2, 6, 3, 5]]).expect("infers");
    assert_eq!(outs[0], "[N, C*H*W]");
    assert_eq!(outs[1], "[C*H*N*W]");
    assert_eq!(outs[2], "[N, C*H, W]");
    assert_eq!(outs[3], "[N, 2, C//2, H, W]");
    assert_eq!(outs[4], "[N, C, H, W]");
    // Splitting C in two needs C even: a guard, not a specialisation.
    assert!(guards.contains("C%2 == 0"), "{guards}");
}

#[test]
fn flatten_of_0d_is_1d_and_unflatten_keeps_c_order() {
    let x = f64s(&[], &[7.0]);
    let y = run("graph f\ninput x: f64[]\ny = flatten(x)\noutput y\n", &[x]).expect("runs");
    assert_eq!(y[0].shape, vec![1]);
    let x = f64s(&[2, 6], &(0..12).map(f64::from).collect::<Vec<_>>());
    let src = "graph u\ninput x: f64[2, 6]\ny = unflatten(x, 1, [3, 2])\nz = flatten(y, 0, 1)\n\
               output y, z\n";
    let out = run(src, &[x]).expect("runs");
    assert_eq!(out[0].shape, vec![2, 3, 2]);
    assert_eq!(out[1].shape, vec![6, 2]);
    close(
        &out[1].to_f64(),
        &(0..12).map(f64::from).collect::<Vec<_>>(),
    );
}

#[test]
fn flatten_and_composites_round_trip_through_the_text_format() {
    let src = "graph r\ninput x: f32[N, C, H, W]\ninput w: f32[W]\n\
               a = flatten(x, start_dim=1, end_dim=2)\nb = unflatten(a, 1, [C, -1])\n\
               y = layer_norm(b, [W], w)\nz = hardswish(y)\noutput z\n";
    let g = graph(src);
    let printed = print(&g);
    let again = graph(&printed);
    assert_eq!(print(&again), printed);
    assert!(
        printed.contains("unflatten(a, dim=1, sizes=[C, -1])"),
        "{printed}"
    );
}

#[test]
fn layer_norm_matches_a_hand_computation() {
    // Row [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5.
    let x = f64s(&[1, 4], &[1.0, 2.0, 3.0, 6.0]);
    let w = f64s(&[4], &[1.0, 2.0, 0.5, -1.0]);
    let b = f64s(&[4], &[0.0, 1.0, 0.0, 0.25]);
    let src = "graph l\ninput x: f64[1, 4]\ninput w: f64[4]\ninput b: f64[4]\n\
               y = layer_norm(x, [4], w, b, eps=0.5)\noutput y\n";
    let y = run(src, &[x, w, b]).expect("runs");
    let r = 1.0 / (3.5f64 + 0.5).sqrt();
    let want = [-2.0 * r, -2.0 * r + 1.0, 0.0, -3.0 * r + 0.25];
    close(&y[0].to_f64(), &want);
}

#[test]
fn group_norm_normalises_each_group_of_channels() {
    // (1, 4, 1): groups {1, 3} and {10, 30}: each becomes [-1, 1] / sqrt(1 + eps).
    let x = f64s(&[1, 4, 1], &[1.0, 3.0, 10.0, 30.0]);
    let src = "graph g\ninput x: f64[1, 4, 1]\ny = group_norm(x, 2, eps=0.0)\noutput y\n";
    let y = run(src, &[x]).expect("runs");
    let big = 1.0; // (30 - 20) / 10
    close(&y[0].to_f64(), &[-1.0, 1.0, -big, big]);
}

#[test]
fn batch_norm_eval_uses_running_stats_and_training_returns_batch_stats() {
    let x = f64s(&[2, 2], &[1.0, 10.0, 3.0, 30.0]);
    let rm = f64s(&[2], &[1.0, 0.0]);
    let rv = f64s(&[2], &[4.0, 1.0]);
    let eval = "graph e\ninput x: f64[2, 2]\ninput rm: f64[2]\ninput rv: f64[2]\n\
                y = batch_norm(x, rm, rv, eps=0.0)\noutput y\n";
    let y = run(eval, &[x.clone(), rm, rv]).expect("runs");
    close(&y[0].to_f64(), &[0.0, 10.0, 1.0, 30.0]);
    let train = "graph t\ninput x: f64[2, 2]\n\
                 y, m, v = batch_norm(x, None, None, training=true, eps=0.0)\noutput y, m, v\n";
    let out = run(train, &[x]).expect("runs");
    close(&out[0].to_f64(), &[-1.0, -1.0, 1.0, 1.0]);
    close(&out[1].to_f64(), &[2.0, 20.0]);
    close(&out[2].to_f64(), &[1.0, 100.0]);
}

#[test]
fn activations_keep_pytorchs_edge_values() {
    let x = f64s(&[4], &[f64::NAN, -0.0, f64::NEG_INFINITY, 5.0]);
    let src = "graph a\ninput x: f64[4]\nc = clamp(x, min=0.0)\nh = relu6(x)\n\
               l = leaky_relu(x)\ne = elu(x)\nn = clamp(x, min=nan)\nq = clamp(x, 2.0, 1.0)\n\
               s = log_softmax(x, dim=0)\noutput c, h, l, e, n, q, s\n";
    let out: Vec<Vec<f64>> = run(src, &[x])
        .expect("runs")
        .iter()
        .map(Tensor::to_f64)
        .collect();
    // NaN stays NaN; -0.0 stays -0.0 through clamp and relu6 (std::min(std::max(..))).
    assert!(out[0][0].is_nan() && out[0][1] == 0.0 && out[0][1].is_sign_negative());
    assert!(out[1][1].is_sign_negative() && out[1][2] == 0.0 && out[1][3] == 5.0);
    assert!(out[2][1].is_sign_negative() && out[2][2] == f64::NEG_INFINITY);
    assert_eq!(out[3][2], -1.0);
    assert!(
        out[4].iter().all(|v| v.is_nan()),
        "a NaN bound gives NaN: {:?}",
        out[4]
    );
    assert!(
        out[5][1..].iter().all(|&v| v == 1.0),
        "min > max gives max: {:?}",
        out[5]
    );
    assert!(
        out[6].iter().all(|v| v.is_nan()),
        "a NaN in the row: {:?}",
        out[6]
    );
}

#[test]
fn log_softmax_is_stable_for_large_inputs() {
    let x = f64s(&[1, 3], &[1000.0, 1001.0, 1002.0]);
    let src = "graph s\ninput x: f64[1, 3]\ny = log_softmax(x, dim=1)\noutput y\n";
    let y = run(src, &[x]).expect("runs");
    let lse = (1.0f64 + (-1.0f64).exp() + (-2.0f64).exp()).ln();
    close(&y[0].to_f64(), &[-2.0 - lse, -1.0 - lse, -lse]);
}

#[test]
fn layer_norm_of_the_wrong_trailing_shape_names_expected_and_found() {
    let x = f64s(&[2, 3, 5], &[0.0; 30]);
    let src = "graph l\ninput x: f64[2, 3, 5]\ny = layer_norm(x, [4])\noutput y\n";
    let (node, msg) = error(src, &[x]);
    assert_eq!(node, "y_normalized_shape");
    assert!(
        msg.contains("[4]") && msg.contains("size 5") && msg.contains("[2, 3, 5]"),
        "{msg}"
    );
    let src = "graph l\ninput x: f64[5]\ny = layer_norm(x, [1, 5])\noutput y\n";
    let err = parse(src).expect_err("rank too small").to_string();
    assert!(
        err.contains("normalized_shape=[1, 5]") && err.contains("rank 1"),
        "{err}"
    );
}

#[test]
fn group_norm_with_indivisible_channels_is_refused() {
    let x = f64s(&[2, 6, 4], &[0.0; 48]);
    let src = "graph g\ninput x: f64[2, 6, 4]\ny = group_norm(x, 4)\noutput y\n";
    let (node, msg) = error(src, &[x]);
    assert_eq!(node, "y_groups");
    assert!(msg.contains("size 6") && msg.contains("[4, -1]"), "{msg}");
}

#[test]
fn batch_norm_with_running_stats_of_the_wrong_size_is_refused() {
    let x = f64s(&[2, 3, 2], &[0.0; 12]);
    let rm = f64s(&[4], &[0.0; 4]);
    let rv = f64s(&[3], &[1.0; 3]);
    let src = "graph b\ninput x: f64[2, 3, 2]\ninput rm: f64[4]\ninput rv: f64[3]\n\
               y = batch_norm(x, rm, rv)\noutput y\n";
    let (node, msg) = error(src, &[x, rm, rv]);
    assert_eq!(node, "y_minus_running_mean");
    assert!(
        msg.contains("cannot broadcast") && msg.contains("[4, 1]"),
        "{msg}"
    );
}

#[test]
fn argument_errors_are_typed_and_name_the_node() {
    let cases = [
        ("y = clamp(x)", "At least one of 'min' or 'max'"),
        (
            "y = hardtanh(x, 2.0, 1.0)",
            "min_val cannot be greater than max_val",
        ),
        ("y = dropout(x, p=1.5)", "between 0 and 1, but got 1.5"),
        (
            "y = dropout(x, training=true)",
            "no random number generator",
        ),
        (
            "y = flatten(x, 2, 1)",
            "start_dim cannot come after end_dim",
        ),
        ("y = unflatten(x, 0, [])", "sizes must be non-empty"),
        (
            "y = unflatten(x, 0, [-1, -1])",
            "only one dimension can be inferred",
        ),
        ("y = group_norm(x, 0)", "num_groups must be positive"),
        (
            "y = batch_norm(x, None, None)",
            "must be given in evaluation mode",
        ),
        (
            "y, m = batch_norm(x, None, None, training=true)",
            "3 values",
        ),
        ("y = softplus(b)", "needs a float input, found bool"),
    ];
    for (stmt, want) in cases {
        let src = format!("graph e\ninput x: f32[2, 3, 4]\ninput b: bool[2]\n{stmt}\noutput y\n");
        let err = match parse(&src) {
            Err(e) => e.to_string(),
            Ok(g) => kiln_ir::validate(&g).expect_err(stmt).to_string(),
        };
        assert!(err.contains(want), "{stmt}: {err}");
        if !stmt.starts_with("y, m") {
            assert!(
                err.contains("node `y`") || err.contains("node 'y'"),
                "{stmt}: {err}"
            );
        }
    }
}
