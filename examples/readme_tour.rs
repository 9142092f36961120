//! The README's Rust tour, kept compiling and running (`cargo run --example readme_tour`).
use kiln::{CompileOptions, Compiler, DynamicPolicy, Outcome, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let graph = kiln::parse(
        "graph pool_relu
         input x: f32[N, C, H, W]
         input s: f32[1, C, 1, 1]
         t = mul(x, s)
         r = relu(t)
         p = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)
         q = mul(p, 0.5)
         output p, q",
    )?;
    // Dynamic is the default: N, C, H, W stay symbolic, so one compiled entry serves many shapes.
    let compiler = Compiler::new(CompileOptions::default().dynamic(DynamicPolicy::Dynamic));
    let f = compiler.compile(&graph)?; // validates; code is generated per shape class, lazily

    let x = Tensor::from_f32(&[2, 3, 8, 8], &vec![0.5; 2 * 3 * 8 * 8]);
    let s = Tensor::from_f32(&[1, 3, 1, 1], &[1.0, -1.0, 2.0]);
    let outs = f.run(&[&x, &s])?; // first call: cache lookup, compile on a miss, run
    let report = f.last_report().unwrap(); // outcome, key, guards, compile_ms
    println!(
        "{} in {:.2} ms, guards: {}",
        report.outcome.name(),
        report.compile_ms,
        report.guards
    );

    let mut again = outs.clone();
    f.run_into(&[&x, &s], &mut again)?; // steady state: validated, no allocation, no lookup

    f.reset(); // drop in-memory specialisations: the next call goes through the disk cache
    assert_eq!(
        f.prepare(&[vec![2, 3, 8, 8], vec![1, 3, 1, 1]])?.outcome,
        Outcome::Hit
    );
    Ok(())
}
