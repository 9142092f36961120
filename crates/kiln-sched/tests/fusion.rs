//! Fusion decisions and recorded guards: how many kernels a graph becomes, which intermediates
//! are materialised, and which guards the lowering records.
use kiln_sched::{BufKind, Program, ReduceKind, SchedOptions};
use kiln_shape::Policy;

mod common;

fn lower(src: &str, shapes: &[&[i64]], policy: Policy, opts: &SchedOptions) -> (Program, String) {
    common::try_lower(src, shapes, policy, opts).expect("schedules")
}

fn temps(p: &Program) -> usize {
    p.buffers.iter().filter(|b| b.kind == BufKind::Temp).count()
}

const CHAIN: &str = "graph chain\ninput x: f32[N, D]\ninput y: f32[N, D]\ninput z: f32[1, D]\na = mul(x, y)\nb = add(a, z)\nc = relu(b)\nd = sigmoid(c)\ne = mul(d, 2.0)\nf = sub(e, 1.0)\noutput f\n";

#[test]
fn an_elementwise_chain_is_one_kernel_reading_each_input_once() {
    let (p, _) = lower(
        CHAIN,
        &[&[4, 8], &[4, 8], &[1, 8]],
        Policy::Dynamic,
        &SchedOptions::default(),
    );
    assert_eq!(p.kernels.len(), 1);
    assert_eq!(temps(&p), 0);
    let k = &p.kernels[0];
    let mut loaded: Vec<u32> = k.loads().map(|(b, _)| b).collect();
    loaded.sort();
    assert_eq!(loaded, vec![0, 1, 2], "each input loaded exactly once");
    assert_eq!(k.stores.len(), 1);
}

#[test]
fn layout_ops_are_index_arithmetic_not_copies() {
    let src = "graph views\ninput x: f32[A, B]\nt = transpose(x, 0, 1)\nu = unsqueeze(t, 0)\ne = expand(u, [3, B, A])\nr = relu(e)\noutput r\n";
    let (p, _) = lower(src, &[&[4, 5]], Policy::Dynamic, &SchedOptions::default());
    assert_eq!(p.kernels.len(), 1);
    assert_eq!(temps(&p), 0);
    let text = p.to_string();
    assert!(text.contains("load b0["), "{text}");
}

#[test]
fn pooling_fuses_its_prologue_and_epilogue() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/graphs/pool_relu.kiln"
    ))
    .unwrap();
    let (p, _) = lower(
        &src,
        &[&[2, 3, 9, 9], &[1, 3, 1, 1]],
        Policy::Dynamic,
        &SchedOptions::default(),
    );
    // p is pooled once, with relu(x*s) inside its window loop; q = p*0.5 reads p's output.
    assert_eq!(p.kernels.len(), 2);
    assert_eq!(temps(&p), 0);
    let r = p.kernels[0]
        .reduce
        .as_ref()
        .expect("pooling is a reduction loop");
    assert_eq!(r.kind, ReduceKind::Max);
    assert!(!r.valid.is_empty(), "padding needs validity conditions");
    assert_eq!(
        r.body
            .iter()
            .filter(|i| matches!(i.op, kiln_sched::ScalarOp::Load { .. }))
            .count(),
        2
    );
    let p_buf = p.outputs[0].1;
    assert!(p.kernels[1].reduce.is_none());
    assert_eq!(
        p.kernels[1].loads().map(|(b, _)| b).collect::<Vec<_>>(),
        vec![p_buf]
    );
}

#[test]
fn softmax_materialises_row_max_and_row_sum() {
    let src = "graph sm\ninput x: f32[N, D]\ny = softmax(x, -1)\noutput y\n";
    let (p, _) = lower(src, &[&[4, 8]], Policy::Dynamic, &SchedOptions::default());
    assert_eq!(p.kernels.len(), 3);
    assert_eq!(temps(&p), 2);
    assert!(
        p.to_string()
            .contains("temporary (fusion could not avoid it)")
    );
}

#[test]
fn a_reduction_read_at_its_own_index_fuses_its_epilogue() {
    let src =
        "graph r\ninput x: f32[N, D]\ns = sum(x, 1)\nt = mul(s, 2.0)\nu = relu(t)\noutput u\n";
    let (p, _) = lower(src, &[&[4, 8]], Policy::Dynamic, &SchedOptions::default());
    assert_eq!(p.kernels.len(), 1);
    assert_eq!(
        p.kernels[0].reduce.as_ref().map(|r| r.kind),
        Some(ReduceKind::Sum)
    );
}

#[test]
fn a_reduction_used_twice_is_materialised_once() {
    let src = "graph r\ninput x: f32[N, D]\nm = amax(x, 1, keepdim=true)\nd = sub(x, m)\ne = add(m, 1.0)\noutput d, e\n";
    let (p, _) = lower(src, &[&[4, 8]], Policy::Dynamic, &SchedOptions::default());
    assert_eq!(temps(&p), 1);
    assert_eq!(p.kernels.len(), 3);
}

#[test]
fn int32_indexing_is_a_guard_on_each_extent() {
    let src = "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b\n";
    let opts = SchedOptions { index_limit: 1000 };
    let (p, guards) = lower(src, &[&[5, 6], &[47, 48]], Policy::Dynamic, &opts);
    assert_eq!(
        p.kernels.iter().map(|k| k.index_bits).collect::<Vec<_>>(),
        vec![32, 64]
    );
    assert_eq!(guards, "M*N < 1000 and P*Q >= 1000");
}

#[test]
fn static_shapes_record_no_indexing_guards() {
    let (p, guards) = lower(
        CHAIN,
        &[&[4, 8], &[4, 8], &[1, 8]],
        Policy::Static,
        &SchedOptions::default(),
    );
    assert_eq!(p.kernels[0].index_bits, 32);
    assert_eq!(guards, "D == 8 and N == 4");
}

#[test]
fn adaptive_pooling_specialises_its_input_size() {
    let src = "graph ad\ninput x: f32[N, C, H, W]\ny = adaptive_avg_pool2d(x, [5, 7])\noutput y\n";
    let (p, guards) = lower(
        src,
        &[&[1, 64, 8, 9]],
        Policy::Dynamic,
        &SchedOptions::default(),
    );
    assert!(
        guards.contains("H == 8") && guards.contains("W == 9"),
        "{guards}"
    );
    let r = p.kernels[0].reduce.as_ref().unwrap();
    assert!(
        r.dims.iter().all(|d| d.as_int().is_some()),
        "windows are compile-time constants"
    );
}
