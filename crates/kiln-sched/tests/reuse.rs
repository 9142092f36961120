//! Shared prefixes across kernels: a deep stack of row reductions lowers to a program that
//! grows linearly with its depth (each kernel re-emits a bounded prefix), while a small shared
//! prefix (layer norm's `x - mean`) is still recomputed in each kernel instead of stored.
use kiln_sched::{BufKind, Program};

mod common;

/// The program for `src` with one input of `shape`.
fn lower(src: &str, shape: &[i64]) -> Program {
    common::lower(src, &[shape])
}

/// `depth` layers of `y = y - amax(y, dim=1, keepdim=true)`, as scale_bench's reduce family.
fn reduction_stack(depth: usize) -> String {
    let mut s = String::from("graph stack\ninput x: f32[N, D]\n");
    let mut prev = "x".to_string();
    for i in 0..depth {
        s += &format!("m{i} = amax({prev}, dim=1, keepdim=true)\ny{i} = sub({prev}, m{i})\n");
        prev = format!("y{i}");
    }
    s + &format!("output {prev}\n")
}

/// Instructions in every kernel body and reduction loop of the program.
fn instructions(p: &Program) -> usize {
    p.kernels
        .iter()
        .map(|k| k.body.len() + k.reduce.as_ref().map_or(0, |r| r.body.len()))
        .sum()
}

fn temps(p: &Program) -> usize {
    p.buffers.iter().filter(|b| b.kind == BufKind::Temp).count()
}

#[test]
fn a_stack_of_row_reductions_lowers_in_linear_size() {
    let small = lower(&reduction_stack(40), &[3, 5]);
    let large = lower(&reduction_stack(160), &[3, 5]);
    let (a, b) = (instructions(&small), instructions(&large));
    // Four times the depth: a linear program is about 4x larger, a quadratic one 16x (before
    // the shared prefix was materialised: 1,721 -> 26,081 instructions, 15x).
    assert!(b <= 5 * a, "40 layers: {a} instructions, 160 layers: {b}");
    // One kernel per row max plus the output, and the prefix stored every few layers.
    assert!(large.kernels.len() > 160, "{} kernels", large.kernels.len());
    assert!(temps(&large) > 160, "{} temporaries", temps(&large));
}

/// Instructions in the largest kernel of the program.
fn largest_kernel(p: &Program) -> usize {
    p.kernels
        .iter()
        .map(|k| k.body.len() + k.reduce.as_ref().map_or(0, |r| r.body.len()))
        .max()
        .unwrap_or(0)
}

#[test]
fn no_kernel_of_a_reduction_stack_grows_with_its_depth() {
    // The output's kernel starts the walk and used to emit the whole stack inline before the
    // kernels nested under it materialised parts of it (321 instructions at 160 layers).
    let (a, b) = (
        largest_kernel(&lower(&reduction_stack(80), &[3, 5])),
        largest_kernel(&lower(&reduction_stack(160), &[3, 5])),
    );
    assert!(
        b <= a,
        "largest kernel: {a} instructions at 80 layers, {b} at 160"
    );
    assert!(b < 100, "largest kernel at 160 layers: {b} instructions");
}

#[test]
fn a_shallow_stack_recomputes_its_prefix_instead_of_storing_it() {
    // Three layers: each re-emitted prefix is a few ops, cheaper than a round trip to memory.
    let p = lower(&reduction_stack(3), &[3, 5]);
    assert_eq!(temps(&p), 3, "only the three row maxima are stored");
}

#[test]
fn layer_norm_keeps_its_centred_input_fused() {
    let src = "graph ln\ninput x: f32[N, D]\nm = mean(x, dim=1, keepdim=true)\nd = sub(x, m)\n\
               q = mul(d, d)\nv = mean(q, dim=1, keepdim=true)\ne = add(v, 0.00001)\n\
               r = rsqrt(e)\no = mul(d, r)\noutput o\n";
    let p = lower(src, &[4, 6]);
    assert_eq!(
        temps(&p),
        2,
        "mean and variance stored, `x - mean` recomputed"
    );
}
