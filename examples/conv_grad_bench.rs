//! The conv backward library steps on the CPU (`convolution_backward_input` and
//! `convolution_backward_weight`, each compiled alone) on ResNet-50 / MobileNetV2 layer
//! shapes: the best wall time of repeated runs, in ms, one line per case and gradient.
//!
//! `cargo run --release --example conv_grad_bench`; `python3 scripts/conv_grad_peers.py`
//! times PyTorch's `aten.convolution_backward` on the same cases (run both in the same hour).
use std::time::{Duration, Instant};

use kiln::{CompileOptions, Compiler, DType, Tensor};

/// (name, c_in, c_out, kernel, stride, pad, hw, groups, batch).
type Case = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const CASES: [Case; 6] = [
    ("3x3_56", 64, 64, 3, 1, 1, 56, 1, 1),
    ("3x3s2_56", 128, 128, 3, 2, 1, 56, 1, 1),
    ("3x3_14_b8", 256, 256, 3, 1, 1, 14, 1, 8),
    ("1x1_56_64to256", 64, 256, 1, 1, 0, 56, 1, 1),
    ("stem7x7s2", 3, 64, 7, 2, 3, 224, 1, 1),
    ("dw3x3_56", 144, 144, 3, 1, 1, 56, 144, 1),
];

const BUDGET: Duration = Duration::from_millis(1500);
const MAX_RUNS: usize = 30;

fn best_ms(f: &kiln::CompiledFunction, inputs: &[&Tensor]) -> f64 {
    f.run(inputs).expect("warm-up run");
    let (start, mut best, mut runs) = (Instant::now(), f64::INFINITY, 0);
    while runs < MAX_RUNS && (runs < 3 || start.elapsed() < BUDGET) {
        let t = Instant::now();
        f.run(inputs).expect("runs");
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        runs += 1;
    }
    best
}

fn values(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n as u64)
        .map(|i| ((i * 7919 + seed * 104729) % 2001) as f64 / 1000.0 - 1.0)
        .collect();
    Tensor::from_f64(DType::F32, shape, &v)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir.path()));
    for (name, c_in, c_out, k, s, p, hw, groups, n) in CASES {
        let out = (hw + 2 * p - k) / s + 1;
        let (xs, ws, ys) = (
            [n, c_in, hw, hw],
            [c_out, c_in / groups, k, k],
            [n, c_out, out, out],
        );
        let kw = format!("stride=[{s}, {s}], padding=[{p}, {p}], groups={groups}");
        let decl = |v: [usize; 4]| format!("{}, {}, {}, {}", v[0], v[1], v[2], v[3]);
        let inputs = [values(&xs, 1), values(&ws, 2), values(&ys, 3)];
        for (what, call) in [
            (
                "input",
                format!("convolution_backward_input(gy, w, x, {kw})"),
            ),
            (
                "weight",
                format!("convolution_backward_weight(gy, x, w, {kw})"),
            ),
        ] {
            let src = format!(
                "graph b\ninput x: f32[{}]\ninput w: f32[{}]\ninput gy: f32[{}]\ng = {call}\n\
                 output g\n",
                decl(xs),
                decl(ws),
                decl(ys)
            );
            let g = kiln::parse(&src).expect("parses");
            let f = compiler.compile(&g).expect("compiles");
            let refs: Vec<&Tensor> = inputs.iter().collect();
            println!(
                "{{\"case\": \"{name}\", \"grad\": \"{what}\", \"ms\": {:.3}}}",
                best_ms(&f, &refs)
            );
        }
    }
}
