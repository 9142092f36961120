//! Max, average and adaptive pooling, each with a fused epilogue, checked against the
//! reference interpreter.
//!
//! `cargo run --release --example pooling`
mod common;

use common::{data, max_abs_diff};
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy};

const GRAPHS: [(&str, &str); 3] = [
    (
        "max_pool2d 3x3/2 + relu(x*s) prologue + *0.5",
        "graph maxpool
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)
q = mul(p, 0.5)
output q
",
    ),
    (
        "avg_pool2d 2x2 + sigmoid",
        "graph avgpool
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
p = avg_pool2d(x, kernel_size=2, stride=2)
t = add(p, s)
q = sigmoid(t)
output q
",
    ),
    (
        "adaptive_avg_pool2d to 5x7 + tanh",
        "graph adaptive
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
p = adaptive_avg_pool2d(x, [5, 7])
t = mul(p, s)
q = tanh(t)
output q
",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (x, s) = (
        data(DType::F32, &[2, 8, 19, 23], 1, 1.0),
        data(DType::F32, &[1, 8, 1, 1], 2, 1.0),
    );
    for (what, text) in GRAPHS {
        let graph = kiln::parse(text)?;
        // Adaptive pooling's windows depend on H and W, so that graph specialises them.
        let dynamic = if graph.name == "adaptive" {
            DynamicPolicy::Static
        } else {
            DynamicPolicy::Dynamic
        };
        let opts = CompileOptions::default()
            .cache_dir(dir.path())
            .dynamic(dynamic);
        let f = Compiler::new(opts).compile(&graph)?;
        let out = f.run(&[&x, &s])?;
        let reference = kiln_ir::interpret(&graph, &[x.clone(), s.clone()])?;
        let max_err = max_abs_diff(&out[0], &reference[0]);
        if max_err > 1e-5 {
            return Err(format!("{what}: kiln differs from the interpreter by {max_err}").into());
        }
        let kernels = f
            .executable(&[vec![2, 8, 19, 23], vec![1, 8, 1, 1]])?
            .program()
            .kernels
            .len();
        println!(
            "{what:<48} {:?} -> {:?}: {kernels} kernel(s), max |error| {max_err:.1e}",
            x.shape, out[0].shape
        );
    }
    Ok(())
}
