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
