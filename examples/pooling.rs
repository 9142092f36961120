//! Max, average and adaptive pooling, each with a fused epilogue, checked against the
//! reference interpreter.
//!
//! `cargo run --release --example pooling`
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};

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

fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f64(DType::F32, shape, &values)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (x, s) = (data(&[2, 8, 19, 23], 1), data(&[1, 8, 1, 1], 2));
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
        let max_err = out[0]
            .to_f64()
            .iter()
            .zip(reference[0].to_f64())
            .map(|(a, r)| (a - r).abs())
            .fold(0.0, f64::max);
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
