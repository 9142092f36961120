//! A fused elementwise chain with broadcasting in bf16: `y = t * sigmoid(1.702 * t)` with
//! `t = x + b` (a bias row broadcast over the batch). One kernel, checked against the
//! reference interpreter.
//!
//! `cargo run --release --example elementwise`
use kiln::{CompileOptions, Compiler, DType, Tensor};

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

/// Deterministic values in [-2, 2), rounded to `dtype`.
fn data(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_f64(dtype, shape, &values)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let graph = kiln::parse(GRAPH)?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir.path()));
    let f = compiler.compile(&graph)?;
    for (n, d) in [(64, 256), (3, 1000)] {
        let (x, b) = (data(DType::BF16, &[n, d], 1), data(DType::BF16, &[d], 2));
        let out = f.run(&[&x, &b])?;
        let reference = kiln_ir::interpret(&graph, &[x.clone(), b.clone()])?;
        let max_err = out[0]
            .to_f64()
            .iter()
            .zip(reference[0].to_f64())
            .map(|(a, r)| (a - r).abs())
            .fold(0.0, f64::max);
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
