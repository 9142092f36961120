//! Which calls run their steps on a pool thread ([`CompiledProgram::any_parallel_step`]).
use kiln_sched::SchedOptions;
use kiln_shape::{Bindings, Policy, ShapeEnv, bind_symbols, specialize_inputs};

use super::CompiledProgram;

/// `src` compiled with every dim symbolic, at the example `shapes`.
fn compile(src: &str, shapes: &[Vec<i64>]) -> CompiledProgram {
    let g = kiln_ir::parse(src).expect("parses");
    let decls = g.input_dims();
    let bindings = bind_symbols(&decls, shapes).expect("binds");
    let mut env = ShapeEnv::new();
    let spec = specialize_inputs(&mut env, &decls, &bindings, &Policy::Dynamic).expect("spec");
    let program =
        kiln_sched::schedule(&g, &mut env, &spec, &SchedOptions::default()).expect("schedules");
    crate::compile(&program).expect("compiles").0
}

/// Whether a call at `shapes` would hand its steps to the pool.
fn hands_off(p: &CompiledProgram, src: &str, shapes: &[Vec<i64>]) -> bool {
    let g = kiln_ir::parse(src).expect("parses");
    let bindings: Bindings = bind_symbols(&g.input_dims(), shapes).expect("binds");
    let numels: Vec<i64> = (p.program.buffers.iter())
        .map(|b| b.numel.eval(&bindings).expect("sizes evaluate"))
        .collect();
    p.on_pool && p.any_parallel_step(&numels, &bindings)
}

const LINEAR: &str = "graph g\ninput a: f32[N, 64]\ninput b: f32[64, 64]\n\
                      m = matmul(a, b)\ny = relu(m)\noutput y\n";

#[test]
fn a_gemm_hands_off_only_where_it_runs_in_parallel() {
    let p = compile(LINEAR, &[vec![8, 64], vec![64, 64]]);
    // 4 x 64 x 64 multiply-adds stay on one thread; 4096 x 64 x 64 do not.
    assert!(!hands_off(&p, LINEAR, &[vec![4, 64], vec![64, 64]]));
    assert!(hands_off(&p, LINEAR, &[vec![4096, 64], vec![64, 64]]));
}

#[test]
fn small_products_spread_over_the_pool_hand_off() {
    let src = "graph g\ninput a: f32[B, 16, 16]\ninput b: f32[B, 16, 16]\n\
               m = matmul(a, b)\ny = relu(m)\noutput y\n";
    let shapes = |b: i64| [vec![b, 16, 16], vec![b, 16, 16]];
    let p = compile(src, &shapes(2));
    // 4096 products of 16^3: each small, together past the pool's threshold.
    assert!(!hands_off(&p, src, &shapes(2)));
    assert!(hands_off(&p, src, &shapes(4096)));
}

#[test]
fn elementwise_programs_hand_off_only_with_a_large_kernel() {
    let src = "graph g\ninput x: f32[N]\ninput y: f32[N]\na = sigmoid(x)\n\
               s = sum(a)\nz = mul(y, s)\noutput z\n";
    let p = compile(src, &[vec![8], vec![8]]);
    assert!(p.program.steps.len() > 1, "{}", p.program);
    assert!(!hands_off(&p, src, &[vec![8], vec![8]]));
    assert!(hands_off(&p, src, &[vec![1 << 22], vec![1 << 22]]));
}

#[test]
fn a_one_step_program_never_hands_off() {
    let src = "graph g\ninput x: f32[N]\ninput y: f32[N]\nz = add(x, y)\noutput z\n";
    let p = compile(src, &[vec![8], vec![8]]);
    assert_eq!(p.program.steps.len(), 1);
    assert!(!hands_off(&p, src, &[vec![1 << 24], vec![1 << 24]]));
}
