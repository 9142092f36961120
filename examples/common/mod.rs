//! Helpers the examples share: deterministic input data, the comparison against the reference
//! interpreter, and the small pooling graph that quickstart and remote_bench both compile.
// Each example is its own crate and uses only some of these helpers.
#![allow(dead_code)]

use kiln::{DType, Tensor};

/// Deterministic pseudo-random values in [-half_width, half_width), rounded to `dtype`.
pub fn data(dtype: DType, shape: &[usize], seed: u64, half_width: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64) * (2.0 * half_width) - half_width
        })
        .collect();
    Tensor::from_f64(dtype, shape, &values)
}

/// The largest element-wise |a - b| (both read as f64).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64()
        .iter()
        .zip(b.to_f64())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `sigmoid(max_pool2d(relu(x * s)))` with symbolic N, C, H, W, named `name`.
pub fn relu_pool_sigmoid_graph(name: &str) -> String {
    format!(
        "\
graph {name}
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=3, stride=2, padding=1)
q = sigmoid(p)
output q
"
    )
}
