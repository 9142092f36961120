//! The two-spirals MLP that `examples/train.rs` trains, `tests/train_curve.rs` replays
//! against PyTorch's loss curve and `examples/train_bench.rs` times. The constants match
//! `scripts/train_reference.py` (which writes `tests/fixtures/torch/train_mlp.json`).
//!
//! - data: two interleaved spirals, no randomness: spiral point `j` has class `j % 2` and
//!   index `i = j / 2`, at radius `0.1 + 0.9 i / (P - 1)` and angle `3 pi i / (P - 1) + pi
//!   class`; point `k` of the data set is spiral point `(k * STRIDE) % 2P`, a fixed shuffle
//!   that makes every batch span both spirals;
//! - model: `linear(2, H) -> tanh -> linear(H, H) -> tanh -> linear(H, 2)`, cross entropy
//!   written as `-mean(sum(log_softmax(z, 1) * one_hot, 1))`;
//! - SGD with momentum, batches of 32 taken in order (step `s` uses batch `s % 8`).
use kiln::{Optimizer, Tensor, TrainSpec};

pub const POINTS_PER_CLASS: usize = 128;
pub const HIDDEN: usize = 64;
pub const BATCH: usize = 32;
pub const STEPS: usize = 300;
pub const LR: f64 = 0.3;
pub const MOMENTUM: f64 = 0.9;
/// Odd, so coprime with the 256 points: `k -> k * STRIDE % 256` is a permutation.
pub const STRIDE: usize = 101;

/// The seed of [`init_params`] the example and the benchmark use (one whose run falls from
/// 0.67 to 0.2 in PyTorch, checked with the same generator and schedule).
pub const INIT_SEED: u64 = 4;

/// The parameters, in the order the graph declares them.
pub const PARAMS: [&str; 6] = ["w1", "b1", "w2", "b2", "w3", "b3"];

/// The data set: `(x, labels)`, `x` row-major `[2P, 2]`.
pub fn spirals() -> (Vec<f32>, Vec<usize>) {
    let p = POINTS_PER_CLASS;
    let mut x = Vec::with_capacity(4 * p);
    let mut labels = Vec::with_capacity(2 * p);
    for k in 0..2 * p {
        let j = (k * STRIDE) % (2 * p);
        let (class, i) = (j % 2, j / 2);
        let r = 0.1 + 0.9 * i as f64 / (p - 1) as f64;
        let theta = 3.0 * std::f64::consts::PI * i as f64 / (p - 1) as f64
            + std::f64::consts::PI * class as f64;
        x.push((r * theta.cos()) as f32);
        x.push((r * theta.sin()) as f32);
        labels.push(class);
    }
    (x, labels)
}

/// The MLP with its loss, batch size symbolic (`N`): inputs `x: f32[N, 2]` and the one-hot
/// targets `target: f32[N, 2]`, parameters [`PARAMS`], output `loss` (0-d).
pub fn mlp_text(hidden: usize) -> String {
    format!(
        "graph spirals_mlp
input x: f32[N, 2]
input target: f32[N, 2]
param w1: f32[{hidden}, 2]
param b1: f32[{hidden}]
param w2: f32[{hidden}, {hidden}]
param b2: f32[{hidden}]
param w3: f32[2, {hidden}]
param b3: f32[2]
l1 = linear(x, w1, b1)
h1 = tanh(l1)
l2 = linear(h1, w2, b2)
h2 = tanh(l2)
z = linear(h2, w3, b3)
logp = log_softmax(z, dim=1)
picked = mul(logp, target)
per_point = sum(picked, dim=1)
mean_logp = mean(per_point)
loss = neg(mean_logp)
output loss
"
    )
}

/// What the step trains: every parameter, SGD with momentum as `torch.optim.SGD`.
pub fn train_spec() -> TrainSpec {
    TrainSpec {
        loss: "loss".into(),
        params: PARAMS.iter().map(|p| p.to_string()).collect(),
        optimizer: Optimizer::Sgd {
            lr: LR,
            momentum: MOMENTUM,
            weight_decay: 0.0,
        },
    }
}

/// Initial weights from nn.Linear's default distribution, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
/// for weight and bias, from a fixed generator (PyTorch's own draws are in the fixture).
pub fn init_params(hidden: usize, seed: u64) -> Vec<(String, Tensor)> {
    let shapes: [(usize, usize); 3] = [(hidden, 2), (hidden, hidden), (2, hidden)];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move |bound: f64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound
    };
    let mut params = Vec::new();
    for (n, (out, fan_in)) in shapes.into_iter().enumerate() {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w: Vec<f32> = (0..out * fan_in).map(|_| uniform(bound) as f32).collect();
        let b: Vec<f32> = (0..out).map(|_| uniform(bound) as f32).collect();
        params.push((format!("w{}", n + 1), Tensor::from_f32(&[out, fan_in], &w)));
        params.push((format!("b{}", n + 1), Tensor::from_f32(&[out], &b)));
    }
    params
}

/// The data set cut into batches of [`BATCH`]: `(x, one-hot target)` per batch, built once so
/// that a step allocates nothing.
pub fn batches(x: &[f32], labels: &[usize]) -> Vec<(Tensor, Tensor)> {
    labels
        .chunks_exact(BATCH)
        .zip(x.chunks_exact(2 * BATCH))
        .map(|(labels, x)| {
            let target: Vec<f32> = labels
                .iter()
                .flat_map(|&c| [(c == 0) as u8 as f32, (c == 1) as u8 as f32])
                .collect();
            (
                Tensor::from_f32(&[BATCH, 2], x),
                Tensor::from_f32(&[BATCH, 2], &target),
            )
        })
        .collect()
}
