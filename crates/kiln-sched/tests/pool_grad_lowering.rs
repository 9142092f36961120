//! Lowering of the pool backward family: one `PoolBackward` library step per op, its result
//! loaded by the kernels after it; the average backwards never compute their `input` (they
//! need its shape only); `launch` proves the call at every symbol value and refuses a call
//! whose output size the forward pooling does not give.
use kiln_sched::{LibraryCall, PoolBackwardKind, Program, Step};

mod common;
use common::lower;

fn graph(call: &str) -> String {
    format!(
        "graph pg\ninput a: f32[N, C, H, W]\ninput g: f32[N, C, OH, OW]\nx = exp(a)\n\
         dx = {call}\ny = relu(dx)\noutput y\n"
    )
}

fn calls(p: &Program) -> Vec<&kiln_sched::PoolBackward> {
    p.library_calls()
        .filter_map(|c| match c {
            LibraryCall::PoolBackward(b) => Some(&**b),
            _ => None,
        })
        .collect()
}

#[test]
fn max_backward_reads_the_computed_input_and_avg_backward_only_its_shape() {
    let max = lower(
        &graph("max_pool2d_backward(g, x, 3, stride=2)"),
        &[&[2, 3, 9, 8], &[2, 3, 4, 3]],
    );
    let [call] = calls(&max)[..] else {
        panic!("one pool backward call:\n{max}")
    };
    assert!(matches!(call.kind, PoolBackwardKind::MaxPool2d(_)));
    assert!(call.input.is_some(), "max reads the input's values");
    // exp(a) materialised for the call, then the call, then relu reading its buffer.
    assert_eq!(max.kernels.len(), 2, "{max}");
    assert!(matches!(max.steps[1], Step::Library(_)), "{max}");
    assert!(
        max.to_string().contains("library max_pool2d_backward"),
        "{max}"
    );

    let avg = lower(
        &graph("avg_pool2d_backward(g, x, 3, stride=2)"),
        &[&[2, 3, 9, 8], &[2, 3, 4, 3]],
    );
    let [call] = calls(&avg)[..] else {
        panic!("one pool backward call:\n{avg}")
    };
    assert_eq!(call.input, None, "avg reads only the input's shape");
    assert_eq!(avg.kernels.len(), 1, "exp(a) is never computed:\n{avg}");
}

#[test]
fn the_launch_proves_the_call_and_refuses_a_wrong_output_size() {
    let mut p = lower(
        &graph("avg_pool2d_backward(g, x, 3, stride=2, padding=1, ceil_mode=true)"),
        &[&[2, 3, 8, 7], &[2, 3, 5, 4]],
    );
    let syms: Vec<i64> = p
        .symbols
        .iter()
        .map(|s| match s.as_str() {
            "N" => 2,
            "C" => 3,
            "H" => 8,
            "W" => 7,
            "OH" => 5,
            "OW" => 4,
            other => panic!("unexpected symbol {other}"),
        })
        .collect();
    p.check_accesses(&syms).expect("the call fits its buffers");
    // A call whose grad_output width is not the forward's is refused, naming the call.
    for step in &mut p.steps {
        if let Step::Library(call) = step
            && let LibraryCall::PoolBackward(b) = &mut **call
        {
            b.out_hw[1] = kiln_shape::Expr::int(3);
        }
    }
    let err = p.check_accesses(&syms).expect_err("wrong output size");
    let msg = err.to_string();
    assert!(
        msg.contains("pool_grad") && msg.contains("grad_output dim 1 is 3"),
        "{msg}"
    );
}

#[test]
fn adaptive_backwards_are_one_call_each() {
    let p = lower(
        "graph pg\ninput x: f64[N, C, 7, 10]\ninput g: f64[N, C, 3, 4]\n\
         a = adaptive_avg_pool2d_backward(g, x)\nm = adaptive_max_pool2d_backward(g, x)\n\
         s = add(a, m)\noutput s\n",
        &[&[2, 3, 7, 10], &[2, 3, 3, 4]],
    );
    let kinds: Vec<_> = calls(&p).iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            PoolBackwardKind::AdaptiveAvgPool2d,
            PoolBackwardKind::AdaptiveMaxPool2d
        ]
    );
}
