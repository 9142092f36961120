//! Graphs deeper than a thread's stack would hold in a recursive lowering compile (and run)
//! instead of overflowing the stack, which aborts the process.
use kiln::{CompileOptions, Compiler, Tensor};

#[test]
fn a_3000_node_elementwise_chain_compiles_and_runs() {
    let mut src = String::from("graph deep\ninput x: f32[N]\n");
    let mut prev = "x".to_string();
    for i in 0..3000 {
        src += &format!("c{i} = add({prev}, 1.0)\n");
        prev = format!("c{i}");
    }
    src += &format!("output {prev}\n");
    let graph = kiln::parse(&src).expect("graph parses");
    let f = Compiler::new(CompileOptions::default().no_cache())
        .compile(&graph)
        .expect("graph validates");
    // Test threads have 2 MiB stacks: before the fix this overflowed in kiln-sched.
    let x = Tensor::from_f32(&[3], &[0.0, 1.0, -2.0]);
    let out = f.run(&[&x]).expect("deep chain runs");
    assert_eq!(out[0].to_f32(), [3000.0, 3001.0, 2998.0]);
}

/// A deep stack of row reductions: kiln-sched stores the shared prefix every few layers
/// instead of re-emitting it in every layer's kernel (see kiln-sched `lower/reuse.rs`); the
/// stored and recomputed values must agree with the reference interpreter.
#[test]
fn a_deep_stack_of_row_reductions_matches_the_interpreter() {
    let mut src = String::from("graph stack\ninput x: f32[N, D]\n");
    let mut prev = "x".to_string();
    for i in 0..60 {
        // y = amax(y) - y/2 changes every layer (y - amax(y) would be a no-op after one).
        src += &format!(
            "m{i} = amax({prev}, dim=1, keepdim=true)\nh{i} = mul({prev}, 0.5)\n\
             y{i} = sub(m{i}, h{i})\n"
        );
        prev = format!("y{i}");
    }
    src += &format!("output {prev}, m30\n");
    let graph = kiln::parse(&src).expect("graph parses");
    let f = Compiler::new(CompileOptions::default().no_cache())
        .compile(&graph)
        .expect("graph validates");
    let values: Vec<f32> = (0..21).map(|i| ((i * 7) % 11) as f32 - 4.5).collect();
    let x = Tensor::from_f32(&[3, 7], &values);
    let got = f.run(&[&x]).expect("stack runs");
    let want = kiln_ir::interpret(&graph, std::slice::from_ref(&x)).expect("reference runs");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.to_f32(), w.to_f32());
    }
}
