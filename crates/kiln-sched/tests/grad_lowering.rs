//! Lowering of the gradient family: `sum_to` is a reduction fused with its producer and its
//! users, `like` operands are never loaded nor computed for their shape, and `slice_scatter`
//! is a copy kernel plus an affine store of `src` whose accesses the launch check proves.
use kiln_sched::{BufKind, Program, ReduceKind, SchedError, SchedOptions};
use kiln_shape::Policy;

mod common;

fn try_lower(
    src: &str,
    shapes: &[&[i64]],
    policy: Policy,
) -> Result<(Program, String), SchedError> {
    common::try_lower(src, shapes, policy, &SchedOptions::default())
}

fn lower(src: &str, shapes: &[&[i64]]) -> (Program, String) {
    try_lower(src, shapes, Policy::Dynamic).expect("schedules")
}

fn temps(p: &Program) -> usize {
    p.buffers.iter().filter(|b| b.kind == BufKind::Temp).count()
}

fn input_buf(p: &Program, i: usize) -> u32 {
    p.buffers
        .iter()
        .position(|b| b.kind == BufKind::Input(i))
        .expect("input buffer") as u32
}

#[test]
fn sum_to_is_one_reduction_kernel_with_its_producer_and_epilogue_fused() {
    let src = "graph g\ninput x: f32[N, C]\ninput b: f32[C]\ny = add(x, b)\ne = exp(y)\n\
               s = sum_to(e, b)\nt = mul(s, 0.5)\noutput t\n";
    let (p, _) = lower(src, &[&[5, 3], &[3]]);
    assert_eq!(p.kernels.len(), 1, "{p}");
    assert_eq!(temps(&p), 0);
    let k = &p.kernels[0];
    let r = k
        .reduce
        .as_ref()
        .expect("sum_to is the kernel's reduction loop");
    assert_eq!(r.kind, ReduceKind::Sum);
    assert_eq!(r.dims.len(), 1, "only the leading N is summed");
    assert_eq!(r.dims[0].to_string(), "N");
    let loads_in_loop = r
        .body
        .iter()
        .filter(|i| matches!(i.op, kiln_sched::ScalarOp::Load { .. }))
        .count();
    assert_eq!(loads_in_loop, 2, "x and b are read inside the loop: {p}");
}

#[test]
fn sum_to_sums_leading_dims_and_size_one_dims_of_the_target() {
    let src = "graph g\ninput x: f64[N, C, H]\ninput m: f64[C, 1]\nr = relu(x)\ns = sum_to(r, m)\noutput s\n";
    let (p, _) = lower(src, &[&[2, 3, 4], &[3, 1]]);
    assert_eq!(p.kernels.len(), 1);
    let r = p.kernels[0].reduce.as_ref().expect("a reduction");
    let dims: Vec<String> = r.dims.iter().map(|d| d.to_string()).collect();
    assert_eq!(dims, ["N", "H"]);
    assert_eq!(
        p.kernels[0].dims.len(),
        2,
        "the kernel runs over the target's [C, 1]"
    );
}

#[test]
fn sum_to_of_an_equal_shape_is_its_input_and_adds_no_kernel() {
    let src =
        "graph g\ninput x: f32[N, C]\ninput l: f32[N, C]\ne = exp(x)\ns = sum_to(e, l)\noutput s\n";
    let (p, guards) = lower(src, &[&[4, 3], &[4, 3]]);
    assert_eq!(p.kernels.len(), 1);
    assert!(p.kernels[0].reduce.is_none(), "{p}");
    // The two inputs' equal sizes were bound to the same symbol values; no other guard.
    assert!(!guards.contains("== 1"), "{guards}");
    let l = input_buf(&p, 1);
    assert!(
        p.kernels[0].loads().all(|(b, _)| b != l),
        "like is never loaded"
    );
}

#[test]
fn like_operands_are_never_loaded_nor_computed() {
    // `h` is only ever a shape; nothing computes it.
    let src = "graph g\ninput x: f32[N, C]\ninput b: f32[C]\nh = exp(x)\ny = expand_as(b, h)\n\
               z = reshape_as(y, h)\noutput z\n";
    let (p, _) = lower(src, &[&[4, 3], &[3]]);
    assert_eq!(p.kernels.len(), 1);
    assert_eq!(temps(&p), 0);
    let x = input_buf(&p, 0);
    let loaded: Vec<u32> = p.kernels[0].loads().map(|(b, _)| b).collect();
    assert_eq!(
        loaded,
        vec![input_buf(&p, 1)],
        "only b is read, never x: {p}"
    );
    assert!(!loaded.contains(&x));
}

#[test]
fn a_reduction_used_once_and_as_a_like_still_fuses_into_its_reader() {
    let src = "graph g\ninput x: f32[N, C]\ninput c: f32[N]\ns = sum(x, 1)\nt = relu(s)\n\
               u = expand_as(c, s)\nv = add(t, u)\noutput v\n";
    let (p, _) = lower(src, &[&[4, 3], &[4]]);
    assert_eq!(temps(&p), 0, "s is not materialised for its shape: {p}");
    assert_eq!(p.kernels.len(), 1);
    assert!(p.kernels[0].reduce.is_some());
}

#[test]
fn slice_scatter_is_a_copy_and_an_affine_store_of_src() {
    let src = "graph g\ninput x: f32[N, C]\ninput s: f32[N, 2]\nr = relu(x)\ne = exp(s)\n\
               y = slice_scatter(r, e, dim=1, start=1, end=5, step=2)\nz = mul(y, 2.0)\noutput z\n";
    let (p, _) = lower(src, &[&[3, 6], &[3, 2]]);
    // copy of relu(x), store of exp(s) into the slice, then z reads the temporary.
    assert_eq!(p.kernels.len(), 3, "{p}");
    assert_eq!(temps(&p), 1);
    let store = &p.kernels[1];
    assert_eq!(store.dims.len(), 2);
    assert_eq!(store.dims[1].to_string(), "2");
    let off = store.stores[0].offset.to_string();
    assert!(off.contains("%o1"), "{off}");
}

#[test]
fn sum_to_an_incompatible_shape_is_a_typed_error_naming_the_node() {
    let src = "graph g\ninput x: f32[N, C]\ninput l: f32[N, 2]\ns = sum_to(x, l)\noutput s\n";
    let err = try_lower(src, &[&[4, 3], &[4, 2]], Policy::Static).expect_err("3 cannot sum to 2");
    let msg = err.to_string();
    assert!(msg.contains("`s`") || msg.contains("'s'"), "{msg}");
    assert!(msg.contains("neither 1 nor"), "{msg}");
}

#[test]
fn expand_as_before_a_matmul_is_a_zero_stride_not_a_copy() {
    let src = "graph g\ninput a: f32[K, M]\ninput b: f32[B, M, P]\ninput l: f32[B, K, M]\n\
               e = expand_as(a, l)\nm = matmul(e, b)\noutput m\n";
    let (p, _) = lower(src, &[&[2, 3], &[4, 3, 5], &[4, 2, 3]]);
    assert_eq!(temps(&p), 0, "the expand is a batch stride of 0: {p}");
    assert!(
        p.kernels.is_empty(),
        "one GEMM step and no copy kernel: {p}"
    );
}
