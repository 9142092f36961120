//! The pool backward family through the compiled function (CPU backend's library step)
//! against the reference interpreter: every op and option, f16 to f64, static and dynamic,
//! two shapes each (one dynamic entry where only symbol values change); the joint graph of a
//! small CNN (a per-channel scale, relu, every pooling op) built by `kiln::grad`; and the typed error of a
//! grad_output whose shape the forward pooling does not give.
mod cache_support;

use cache_support::{assert_matches_reference, compiler, data, graph};
use kiln::{DType, DynamicPolicy, GradSpec, Tensor};

struct Case {
    call: &'static str,
    /// Two calls: the shapes of x and of g.
    shapes: [[&'static [usize]; 2]; 2],
    /// Whether one dynamic entry serves both calls (no size is 1: the dynamic policy
    /// specialises 0 and 1).
    one_entry: bool,
}

const CASES: &[Case] = &[
    Case {
        call: "max_pool2d_backward(g, x, 3, stride=2)",
        shapes: [
            [&[2, 3, 9, 8], &[2, 3, 4, 3]],
            [&[3, 2, 11, 7], &[3, 2, 5, 3]],
        ],
        one_entry: true,
    },
    Case {
        call: "max_pool2d_backward(g, x, [3, 2], stride=[2, 1], padding=1, dilation=[2, 3])",
        shapes: [
            [&[2, 2, 7, 9], &[2, 2, 3, 8]],
            [&[3, 3, 9, 9], &[3, 3, 4, 8]],
        ],
        one_entry: true,
    },
    Case {
        call: "max_pool2d_backward(g, x, 3, stride=2, padding=1, ceil_mode=true)",
        shapes: [
            [&[2, 2, 8, 7], &[2, 2, 5, 4]],
            [&[3, 2, 8, 7], &[3, 2, 5, 4]],
        ],
        one_entry: true,
    },
    Case {
        call: "avg_pool2d_backward(g, x, 3, stride=2, padding=1, ceil_mode=true)",
        shapes: [
            [&[2, 3, 8, 7], &[2, 3, 5, 4]],
            [&[3, 3, 8, 7], &[3, 3, 5, 4]],
        ],
        one_entry: true,
    },
    Case {
        call: "avg_pool2d_backward(g, x, 3, stride=2, padding=1, count_include_pad=false)",
        shapes: [
            [&[2, 3, 8, 7], &[2, 3, 4, 4]],
            [&[2, 3, 10, 5], &[2, 3, 5, 3]],
        ],
        one_entry: true,
    },
    Case {
        call: "avg_pool2d_backward(g, x, [3, 2], stride=[2, 3], padding=1, divisor_override=5)",
        shapes: [
            [&[2, 3, 7, 7], &[2, 3, 4, 3]],
            [&[3, 3, 7, 7], &[3, 3, 4, 3]],
        ],
        one_entry: true,
    },
    Case {
        call: "adaptive_avg_pool2d_backward(g, x)",
        shapes: [
            [&[2, 3, 7, 10], &[2, 3, 3, 4]],
            [&[4, 3, 7, 10], &[4, 3, 3, 4]],
        ],
        one_entry: true,
    },
    Case {
        call: "adaptive_max_pool2d_backward(g, x)",
        shapes: [
            [&[2, 3, 7, 10], &[2, 3, 3, 4]],
            [&[4, 2, 7, 10], &[4, 2, 3, 4]],
        ],
        one_entry: true,
    },
    // Adaptive windows depend on H and W: a new H is a new entry.
    Case {
        call: "adaptive_avg_pool2d_backward(g, x)",
        shapes: [
            [&[2, 3, 7, 10], &[2, 3, 3, 4]],
            [&[2, 3, 8, 10], &[2, 3, 3, 4]],
        ],
        one_entry: false,
    },
];

fn primitive(call: &str, dtype: DType) -> kiln::Graph {
    let src = format!(
        "graph pg\ninput x: DT[N, C, H, W]\ninput g: DT[N, C, OH, OW]\ndx = {call}\noutput dx\n"
    );
    graph(&src, dtype)
}

#[test]
fn every_pool_backward_matches_the_interpreter() {
    for case in CASES {
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
                let g = primitive(case.call, dtype);
                let dir = tempfile::tempdir().expect("tempdir");
                let c = compiler(dir.path(), policy);
                let f = c.compile(&g).expect("compiles");
                for (k, [xs, gs]) in case.shapes.iter().enumerate() {
                    let ins = [data(dtype, xs, 3 + k as u64), data(dtype, gs, 9 + k as u64)];
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let got = f
                        .run(&refs)
                        .unwrap_or_else(|e| panic!("{} {dtype} {policy:?}: {e}", case.call));
                    assert_matches_reference(&g, &refs, &got);
                }
                if policy == DynamicPolicy::Dynamic {
                    let entries = if case.one_entry { 1 } else { 2 };
                    let n = c.counters();
                    // A new guard set under the same key counts as a guard miss.
                    assert_eq!(n.miss + n.guard_miss, entries, "{} {dtype}", case.call);
                }
            }
        }
    }
}

#[test]
fn constant_regions_send_each_window_to_its_first_maximum() {
    // Values in {0, 1}: most windows have tied maxima; the compiled scatter and the
    // interpreter pick the same one.
    let g = primitive(
        "max_pool2d_backward(g, x, 3, stride=1, padding=1)",
        DType::F32,
    );
    let xs: Vec<f64> = (0..2 * 2 * 6 * 6).map(|i| ((i / 5) % 2) as f64).collect();
    let x = Tensor::from_f64(DType::F32, &[2, 2, 6, 6], &xs);
    let go = data(DType::F32, &[2, 2, 6, 6], 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path(), DynamicPolicy::Dynamic)
        .compile(&g)
        .expect("compiles");
    let got = f.run(&[&x, &go]).expect("runs");
    assert_matches_reference(&g, &[&x, &go], &got);
}

const CNN: &str = "graph cnn
input x: DT[N, 3, H, W]
param w: DT[3, 1, 1]
c = mul(x, w)
r = relu(c)
m = max_pool2d(r, 3, stride=2, padding=1)
a = avg_pool2d(m, 2, ceil_mode=true, count_include_pad=false)
p = adaptive_avg_pool2d(a, [2, 2])
q = adaptive_max_pool2d(m, [3, 2])
s1 = sum(p)
s2 = sum(q)
y = add(s1, s2)
output y
";

#[test]
fn the_joint_graph_of_a_small_cnn_matches_the_interpreter() {
    for dtype in [DType::F32, DType::F64] {
        let fwd = graph(CNN, dtype);
        let joint = kiln::grad(&fwd, &GradSpec::sum_of("y", &["x", "w"])).expect("grad builds");
        for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
            let dir = tempfile::tempdir().expect("tempdir");
            let f = compiler(dir.path(), policy)
                .compile(&joint)
                .expect("the joint graph compiles");
            for (k, n) in [1usize, 3].into_iter().enumerate() {
                let x = data(dtype, &[n, 3, 9, 8], 21 + k as u64);
                let w = data(dtype, &[3, 1, 1], 5);
                let got = f.run(&[&x, &w]).expect("runs");
                assert_matches_reference(&joint, &[&x, &w], &got);
            }
        }
    }
}

#[test]
fn a_grad_output_the_forward_does_not_give_is_a_typed_error() {
    let g = primitive("avg_pool2d_backward(g, x, 2)", DType::F32);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path(), DynamicPolicy::Dynamic)
        .compile(&g)
        .expect("compiles");
    let x = data(DType::F32, &[1, 2, 6, 6], 1);
    let ok = data(DType::F32, &[1, 2, 3, 3], 2);
    f.run(&[&x, &ok]).expect("the matching shape runs");
    let bad = data(DType::F32, &[1, 2, 3, 2], 2);
    let err = f
        .run(&[&x, &bad])
        .expect_err("a wrong grad_output shape is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("avg_pool2d_backward") && msg.contains("grad_output"),
        "{msg}"
    );
}
