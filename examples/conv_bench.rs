//! conv2d throughput on ResNet-50 / MobileNetV2 layer shapes, through the compiled CPU
//! program (the convolution library step), in GFLOP/s (2 x multiply-adds per second).
//!
//! `cargo run --release --example conv_bench -- [--json] [--peers FILE] [--only SUBSTRING]`
//!
//! With `--json`, one JSON object per row: `case` (`conv2d_<name>_b<N>`), `gflops`,
//! `reference` and `ratio` (kiln's GFLOP/s over the peer's). The peers file has lines
//! `{"case": ..., "gflops": ...}` (`scripts/conv_peers.py`, or `scripts/linalg_peers.py`,
//! writes them: run it in the same hour); a row without a peer figure has `ratio` null.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln::{CompileOptions, Compiler, DType, Tensor};

struct Shape {
    name: &'static str,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
    hw: usize,
    groups: usize,
}

const fn shape(
    name: &'static str,
    (c_in, c_out, k): (usize, usize, usize),
    (stride, pad, hw, groups): (usize, usize, usize, usize),
) -> Shape {
    Shape {
        name,
        c_in,
        c_out,
        k,
        stride,
        pad,
        hw,
        groups,
    }
}

const SHAPES: [Shape; 10] = [
    shape("stem7x7s2", (3, 64, 7), (2, 3, 224, 1)),
    shape("3x3_56", (64, 64, 3), (1, 1, 56, 1)),
    shape("1x1_56_256to64", (256, 64, 1), (1, 0, 56, 1)),
    shape("1x1_56_64to256", (64, 256, 1), (1, 0, 56, 1)),
    shape("3x3s2_56", (128, 128, 3), (2, 1, 56, 1)),
    shape("3x3_14", (256, 256, 3), (1, 1, 14, 1)),
    shape("3x3_7", (512, 512, 3), (1, 1, 7, 1)),
    shape("dw3x3_56", (144, 144, 3), (1, 1, 56, 144)),
    shape("dw3x3s2_112", (96, 96, 3), (2, 1, 112, 96)),
    shape("dw3x3_7", (960, 960, 3), (1, 1, 7, 960)),
];

/// Time spent per case and the most runs: the best run is reported.
const BUDGET: Duration = Duration::from_millis(1500);
const MAX_RUNS: usize = 50;

fn flops(s: &Shape, n: usize) -> f64 {
    let out = (s.hw + 2 * s.pad - s.k) / s.stride + 1;
    2.0 * (n * s.c_out * out * out * (s.c_in / s.groups) * s.k * s.k) as f64
}

fn seconds(s: &Shape, n: usize) -> f64 {
    let src = format!(
        "graph bench\ninput x: f32[{n}, {}, {hw}, {hw}]\ninput w: f32[{}, {}, {k}, {k}]\n\
         y = conv2d(x, w, stride={}, padding={}, groups={})\noutput y\n",
        s.c_in,
        s.c_out,
        s.c_in / s.groups,
        s.stride,
        s.pad,
        s.groups,
        hw = s.hw,
        k = s.k
    );
    let graph = kiln::parse(&src).expect("benchmark graph");
    let dir = tempfile::tempdir().expect("tempdir");
    let f = Compiler::new(CompileOptions::default().cache_dir(dir.path()))
        .compile(&graph)
        .expect("compile");
    let fill = |shape: &[usize]| {
        let len: usize = shape.iter().product();
        let v: Vec<f32> = (0..len)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        Tensor::from_f32(shape, &v)
    };
    let x = fill(&[n, s.c_in, s.hw, s.hw]);
    let w = fill(&[s.c_out, s.c_in / s.groups, s.k, s.k]);
    f.run(&[&x, &w]).expect("warm-up run");
    let (start, mut best) = (Instant::now(), f64::INFINITY);
    for _ in 0..MAX_RUNS {
        let t = Instant::now();
        let out = f.run(&[&x, &w]).expect("run");
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(out[0].dtype, DType::F32);
        if start.elapsed() > BUDGET {
            break;
        }
    }
    best
}

fn peers(path: &str) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some((v["case"].as_str()?.to_string(), v["gflops"].as_f64()?))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let peer_file = args
        .iter()
        .position(|a| a == "--peers")
        .and_then(|i| args.get(i + 1));
    let peers = peer_file.map(|p| peers(p)).unwrap_or_default();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    for s in &SHAPES {
        for n in [1, 8] {
            let case = format!("conv2d_{}_b{n}", s.name);
            if only.is_some_and(|o| !case.contains(o.as_str())) {
                continue;
            }
            let gflops = flops(s, n) / seconds(s, n) / 1e9;
            let peer = peers.get(&case).copied();
            let ratio = peer.map(|p| gflops / p);
            if json {
                let row = serde_json::json!({
                    "case": case,
                    "gflops": (gflops * 10.0).round() / 10.0,
                    "reference": peer.map_or("none (no peer figure)".to_string(),
                        |p| format!("torch.conv2d {p:.1} GFLOP/s (peers file)")),
                    "ratio": ratio.map(|r| (r * 100.0).round() / 100.0),
                });
                println!("{row}");
            } else {
                let vs = ratio.map_or(String::new(), |r| format!("  {r:.2}x torch"));
                println!("{case:28} {gflops:7.1} GFLOP/s{vs}");
            }
        }
    }
}
