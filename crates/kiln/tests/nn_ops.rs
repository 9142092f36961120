//! The nn family (activations, normalisation, flatten) through the compiled function (CPU
//! backend) against the reference interpreter: every op in f32, f64, f16 and bf16, under
//! the static and the dynamic policy, on two input shapes (one dynamic entry serves both),
//! and the activations on edge values (NaN, infinities, -0.0, thresholds) bit for bit.
mod cache_support;

use cache_support::{compiler, data, graph, tolerance};
use kiln::{DType, DynamicPolicy, Graph, Tensor};

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];
const POLICIES: [DynamicPolicy; 2] = [DynamicPolicy::Static, DynamicPolicy::Dynamic];

/// One statement each on `x: DT[N, C, H, W]` (C = 4); `w`, `b`, `rm`, `rv` are `DT[C]`,
/// `lw`, `lb` are `DT[W]`.
const OPS: &[&str] = &[
    "y = clamp(x, min=-0.5, max=0.5)",
    "y = clamp(x, min=0.2)",
    "y = clamp(x, max=-0.1)",
    "y = clamp(x, 0.5, -0.5)",
    "y = hardtanh(x)",
    "y = hardtanh(x, min_val=-0.3, max_val=0.7)",
    "y = relu6(x)",
    "y = leaky_relu(x)",
    "y = leaky_relu(x, negative_slope=0.2)",
    "y = elu(x)",
    "y = elu(x, alpha=0.5)",
    "y = selu(x)",
    "y = hardswish(x)",
    "y = hardsigmoid(x)",
    "y = mish(x)",
    "y = softplus(x)",
    "y = softplus(x, beta=2.0, threshold=1.0)",
    "y = log_softmax(x, dim=1)",
    "y = log_softmax(x, dim=-1)",
    "y = dropout(x)",
    "y = dropout(x, p=0.2, training=false)",
    "y = flatten(x)",
    "y = flatten(x, start_dim=1)",
    "y = flatten(x, 1, 2)",
    "y = unflatten(x, 1, [2, -1])",
    "f = flatten(x, start_dim=2)\ny = unflatten(f, -1, [H, W])",
    "y = layer_norm(x, [W], lw, lb)",
    "y = layer_norm(x, [H, W])",
    "y = group_norm(x, 2, w, b)",
    "y = group_norm(x, 4)",
    "y = batch_norm(x, rm, rv, w, b)",
    "y = batch_norm(x, rm, rv, eps=0.001)",
    "y, m, v = batch_norm(x, None, None, w, b, training=true)",
];

fn source(stmt: &str) -> String {
    let outputs = if stmt.starts_with("y, m, v") {
        "y, m, v"
    } else {
        "y"
    };
    format!(
        "graph nn\ninput x: DT[N, C, H, W]\ninput w: DT[C]\ninput b: DT[C]\ninput rm: DT[C]\n\
         input rv: DT[C]\ninput lw: DT[W]\ninput lb: DT[W]\n{stmt}\noutput {outputs}\n"
    )
}

/// Inputs for `x` of `shape`: x spans [-8, 8) (past every activation's threshold), rv > 0.
fn inputs(dtype: DType, shape: &[usize], seed: u64) -> Vec<Tensor> {
    let (c, w) = (shape[1], shape[3]);
    let scaled = |t: Tensor, k: f64, add: f64| {
        let v: Vec<f64> = t.to_f64().iter().map(|x| x * k + add).collect();
        Tensor::from_f64(dtype, &t.shape, &v)
    };
    let rv = data(dtype, &[c], seed + 4).to_f64();
    let rv: Vec<f64> = rv.iter().map(|v| v.abs() + 0.5).collect();
    vec![
        scaled(data(dtype, shape, seed), 8.0, 0.0),
        data(dtype, &[c], seed + 1),
        data(dtype, &[c], seed + 2),
        data(dtype, &[c], seed + 3),
        Tensor::from_f64(dtype, &[c], &rv),
        data(dtype, &[w], seed + 5),
        data(dtype, &[w], seed + 6),
    ]
}

/// Every input graph value used by the graph (the interpreter needs exactly those).
fn used(g: &Graph, all: &[Tensor]) -> Vec<Tensor> {
    let names = ["x", "w", "b", "rm", "rv", "lw", "lb"];
    g.inputs()
        .iter()
        .map(|d| {
            all[names
                .iter()
                .position(|n| *n == d.name)
                .expect("known input")]
            .clone()
        })
        .collect()
}

/// Whether `a` and `b` agree: both NaN, equal (with the sign of zero), or within `tol`
/// relative to max(|b|, 1) for the low-precision dtypes' accumulated rounding.
fn agree(a: f64, b: f64, tol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return a != 0.0 || a.is_sign_negative() == b.is_sign_negative();
    }
    (a - b).abs() <= tol * b.abs().max(1.0)
}

fn check(what: &str, got: &[Tensor], want: &[Tensor], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            (g.dtype, &g.shape),
            (w.dtype, &w.shape),
            "{what}: output {i}"
        );
        let (gv, wv) = (g.to_f64(), w.to_f64());
        if let Some(j) = (0..gv.len()).find(|&j| !agree(gv[j], wv[j], tol)) {
            panic!(
                "{what}: output {i} element {j}: kiln {} vs interpreter {}",
                gv[j], wv[j]
            );
        }
    }
}

#[test]
fn every_nn_op_in_every_dtype_and_policy_matches_the_interpreter() {
    for stmt in OPS {
        for dtype in DTYPES {
            for policy in POLICIES {
                let g = graph(&source(stmt), dtype);
                let dir = tempfile::tempdir().expect("tempdir");
                let c = compiler(dir.path(), policy);
                let f = c.compile(&g).expect("compiles");
                for (k, shape) in [[2usize, 4, 3, 5], [3, 4, 2, 6]].iter().enumerate() {
                    let all = inputs(dtype, shape, 7 + k as u64);
                    let ins = used(&g, &all);
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let got = f
                        .run(&refs)
                        .unwrap_or_else(|e| panic!("{stmt} {dtype}: {e}"));
                    let want = kiln_ir::interpret(&g, &ins).expect("the interpreter runs it");
                    let what = format!("`{stmt}` {dtype} {policy:?} {shape:?}");
                    check(&what, &got, &want, tolerance(dtype));
                }
                if policy == DynamicPolicy::Dynamic {
                    let misses = c.counters().miss;
                    assert_eq!(misses, 1, "`{stmt}` {dtype}: one dynamic entry serves both");
                }
            }
        }
    }
}

#[test]
fn activations_on_edge_values_match_the_interpreter_exactly() {
    let edges = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1e-8,
        -1e-8,
        3.0,
        -3.0,
        6.0,
        -6.0,
        20.0,
        20.5,
        -20.0,
        100.0,
        -100.0,
    ];
    let acts = [
        "clamp(x, min=0.0)",
        "clamp(x, min=nan)",
        "clamp(x, -1.0, inf)",
        "hardtanh(x)",
        "relu6(x)",
        "leaky_relu(x)",
        "elu(x)",
        "selu(x)",
        "hardswish(x)",
        "hardsigmoid(x)",
        "mish(x)",
        "softplus(x)",
        "log_softmax(x, dim=0)",
    ];
    for dtype in [DType::F32, DType::F64] {
        for act in acts {
            let src = format!(
                "graph e\ninput x: {}[N]\ny = {act}\noutput y\n",
                dtype.name()
            );
            let g = kiln::parse(&src).expect("parses");
            let x = Tensor::from_f64(dtype, &[edges.len()], &edges);
            let dir = tempfile::tempdir().expect("tempdir");
            let f = compiler(dir.path(), DynamicPolicy::Static)
                .compile(&g)
                .expect("compiles");
            let got = f.run(&[&x]).expect("runs");
            let want = kiln_ir::interpret(&g, std::slice::from_ref(&x)).expect("interprets");
            // The transcendental functions may differ by an ulp between the two.
            check(
                &format!("{act} {dtype}"),
                &got,
                &want,
                4.0 * tolerance(dtype),
            );
        }
    }
}
