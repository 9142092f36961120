//! A fused elementwise chain with broadcasting in bf16: `y = t * sigmoid(1.702 * t)` with
//! `t = x + b` (a bias row broadcast over the batch). One kernel, checked against the
//! reference interpreter.
//!
//! `cargo run --release --example elementwise`
mod common;

use common::{data, max_abs_diff};
use kiln::{CompileOptions, Compiler, DType};

const GRAPH: &str = "\
graph gelu_sigmoid_bf16
input x: bf16[N, D]
input b: bf16[D]
t = add(x, b)
u = mul(t, 1.702)
g = sigmoid(u)
y = mul(t, g)
output y
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let graph = kiln::parse(GRAPH)?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir.path()));
    let f = compiler.compile(&graph)?;
    for (n, d) in [(64, 256), (3, 1000)] {
        let (x, b) = (
            data(DType::BF16, &[n, d], 1, 2.0),
            data(DType::BF16, &[d], 2, 2.0),
        );
        let out = f.run(&[&x, &b])?;
        let reference = kiln_ir::interpret(&graph, &[x.clone(), b.clone()])?;
        let max_err = max_abs_diff(&out[0], &reference[0]);
        // One bf16 rounding step of a value below 4 is at most 2^-6.
        if max_err > 2f64.powi(-6) {
            return Err(format!("kiln differs from the interpreter by {max_err}").into());
        }
        let exec = f.executable(&[vec![n as i64, d as i64], vec![d as i64]])?;
        println!(
            "x {:?} bf16 + b {:?} bf16 -> y {:?} {}: {} kernel(s), max |error| vs reference {:.1e}",
            x.shape,
            b.shape,
            out[0].shape,
            out[0].dtype,
            exec.program().kernels.len(),
            max_err
        );
    }
    let c = compiler.counters();
    println!(
        "one dynamic entry served both shapes: miss {} / in-memory reuse {}",
        c.miss, c.memory
    );
    Ok(())
}
