//! GEMM throughput of compiled kiln functions (CPU backend, the `gemm` crate as a library
//! step): square sgemm, the GEMM shapes of ResNet-50's classifier and a BERT-base layer, f16
//! and bf16 GEMM, and `linear + bias + gelu` against the bare GEMM of the same shape.
//!
//! `cargo run --release --example linalg_bench -- [--json] [--peers FILE]`
//!
//! One row per case: `case`, `gflops` (2*M*N*K per second, best of the timed runs), and
//! `reference`/`ratio` (kiln's speed / the reference's). With `--peers FILE` (the JSON lines
//! `scripts/linalg_peers.py` writes) a case the file names is compared with that figure;
//! `linear_bias_gelu_*` is compared with kiln's bare GEMM of the same shape in this run (the
//! issue's "<= 1.1x the bare GEMM" is a ratio >= 0.91); any other case with the `gemm` crate
//! called directly on the same buffers, in this run.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln::{CompileOptions, CompiledFunction, Compiler, DType, Tensor};

/// `(case, dtype, M, K, N)`.
const GEMMS: [(&str, DType, usize, usize, usize); 10] = [
    ("sgemm_256", DType::F32, 256, 256, 256),
    ("sgemm_1024", DType::F32, 1024, 1024, 1024),
    ("sgemm_2048", DType::F32, 2048, 2048, 2048),
    ("sgemm_resnet50_fc_8x2048x1000", DType::F32, 8, 2048, 1000),
    ("sgemm_bert_qkv_1024x768x2304", DType::F32, 1024, 768, 2304),
    ("sgemm_bert_out_1024x768x768", DType::F32, 1024, 768, 768),
    ("sgemm_bert_ffn1_1024x768x3072", DType::F32, 1024, 768, 3072),
    ("sgemm_bert_ffn2_1024x3072x768", DType::F32, 1024, 3072, 768),
    ("hgemm_1024", DType::F16, 1024, 1024, 1024),
    ("bgemm_1024", DType::BF16, 1024, 1024, 1024),
];
/// A BERT-base feed-forward layer at 1024 and at 128 tokens (its output, 12 MB and 1.5 MB,
/// against the caches the epilogue runs in).
const LINEARS: [(&str, usize, usize, usize); 2] = [
    ("linear_bias_gelu_1024x768x3072", 1024, 768, 3072),
    ("linear_bias_gelu_128x768x3072", 128, 768, 3072),
];

/// Timed runs stop after this long (at least `MIN_RUNS`); the best run is reported.
const BUDGET: Duration = Duration::from_millis(700);
const MIN_RUNS: usize = 3;

fn random(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed | 1;
    let vals: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f64 / 1000.0 - 1.0
        })
        .collect();
    Tensor::from_f64(dtype, shape, &vals)
}

fn compile(text: &str) -> CompiledFunction {
    let g = kiln::parse(text).expect("bench graph parses");
    Compiler::new(CompileOptions::default().no_cache())
        .compile(&g)
        .expect("bench graph compiles")
}

/// The best time of `f` over the budget, after one warm-up call.
fn best(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < MIN_RUNS || start.elapsed() < BUDGET {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// Seconds per call of `f` on `inputs`, writing into preallocated outputs.
fn time_kiln(f: &CompiledFunction, inputs: &[Tensor]) -> f64 {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut outs = f.run(&refs).expect("bench run");
    best(|| f.run_into(&refs, &mut outs).expect("bench run"))
}

/// Best times of `f` and `g` on the same inputs, timed alternately so that both see the
/// same load (this machine is shared): the ratio is steadier than two separate bests.
fn time_pair(f: &CompiledFunction, g: &CompiledFunction, inputs: &[Tensor]) -> (f64, f64) {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let (mut out_f, mut out_g) = (f.run(&refs).expect("run"), g.run(&refs).expect("run"));
    let (mut best_f, mut best_g) = (f64::INFINITY, f64::INFINITY);
    let start = Instant::now();
    let mut runs = 0;
    while runs < MIN_RUNS || start.elapsed() < 2 * BUDGET {
        let t = Instant::now();
        f.run_into(&refs, &mut out_f).expect("run");
        best_f = best_f.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        g.run_into(&refs, &mut out_g).expect("run");
        best_g = best_g.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    (best_f, best_g)
}

/// The `gemm` crate called directly (through `kiln_cpu::sgemm`, the same settings as the
/// GEMM steps) on contiguous f32 matrices: the no-peer reference.
fn time_gemm_crate(m: usize, k: usize, n: usize) -> f64 {
    let a: Vec<f32> = random(DType::F32, &[m, k], 1).to_f32();
    let b: Vec<f32> = random(DType::F32, &[k, n], 2).to_f32();
    let mut c = vec![0f32; m * n];
    best(|| kiln_cpu::sgemm(m, k, n, &a, &b, &mut c))
}

fn gflops(m: usize, k: usize, n: usize, secs: f64) -> f64 {
    2.0 * (m * k * n) as f64 / secs / 1e9
}

struct Row {
    case: String,
    gflops: f64,
    reference: String,
    ref_gflops: f64,
}

fn matmul_text(dtype: DType, m: usize, k: usize, n: usize) -> String {
    format!(
        "graph g\ninput a: {dtype}[{m}, {k}]\ninput b: {dtype}[{k}, {n}]\ny = matmul(a, b)\noutput y\n"
    )
}

/// `linear(x, w)` followed by `epilogue` (statements ending in `y = ...`).
fn linear_text(m: usize, k: usize, n: usize, epilogue: &str) -> String {
    format!(
        "graph lin\ninput x: f32[{m}, {k}]\ninput w: f32[{n}, {k}]\ninput bias: f32[{n}]\n{epilogue}\noutput y\n"
    )
}

const BARE: &str = "y = linear(x, w)";
/// The case, and the bias alone, which separates the pass's memory round trip from
/// gelu's arithmetic.
const EPILOGUES: [(&str, &str); 2] = [
    ("", "l = linear(x, w, bias)\ny = gelu(l)"),
    ("_bias_only", "y = linear(x, w, bias)"),
];

fn gemm_row(case: &str, dtype: DType, (m, k, n): (usize, usize, usize), peers: &Peers) -> Row {
    let f = compile(&matmul_text(dtype, m, k, n));
    let inputs = [random(dtype, &[m, k], 3), random(dtype, &[k, n], 4)];
    let ours = gflops(m, k, n, time_kiln(&f, &inputs));
    let (reference, ref_gflops) = match peers.get(case) {
        Some((name, g)) => (name.clone(), *g),
        None => (
            "gemm crate called directly (f32), same run".to_string(),
            gflops(m, k, n, time_gemm_crate(m, k, n)),
        ),
    };
    Row {
        case: case.to_string(),
        gflops: ours,
        reference,
        ref_gflops,
    }
}

fn linear_rows((case, m, k, n): (&str, usize, usize, usize), peers: &Peers) -> Vec<Row> {
    let inputs = [
        random(DType::F32, &[m, k], 5),
        random(DType::F32, &[n, k], 6),
        random(DType::F32, &[n], 7),
    ];
    let bare_f = compile(&linear_text(m, k, n, BARE));
    let mut rows = Vec::new();
    for (suffix, epilogue) in EPILOGUES {
        let fused_f = compile(&linear_text(m, k, n, epilogue));
        let (bare, fused) = time_pair(&bare_f, &fused_f, &inputs);
        rows.push(Row {
            case: format!("{case}{suffix}"),
            gflops: gflops(m, k, n, fused),
            reference: "kiln bare GEMM (linear without bias), same shape, same run".to_string(),
            ref_gflops: gflops(m, k, n, bare),
        });
    }
    let fused = rows[0].gflops;
    if let Some((name, g)) = peers.get(case) {
        rows.push(Row {
            case: format!("{case}_vs_peer"),
            gflops: fused,
            reference: name.clone(),
            ref_gflops: *g,
        });
    }
    rows
}

/// `case -> (reference name, gflops)` from the peers script's JSON lines.
type Peers = HashMap<String, (String, f64)>;

fn read_peers(path: &str) -> Peers {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut peers = Peers::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let (Some(case), Some(g)) = (v["case"].as_str(), v["gflops"].as_f64()) else {
            continue;
        };
        let name = v["system"].as_str().unwrap_or("peer").to_string();
        peers.insert(case.to_string(), (name, g));
    }
    peers
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let peers = match args.iter().position(|a| a == "--peers") {
        Some(i) => read_peers(args.get(i + 1).expect("--peers FILE")),
        None => Peers::new(),
    };
    // Each row is printed as soon as it is measured.
    for &(case, dtype, m, k, n) in &GEMMS {
        print_row(&gemm_row(case, dtype, (m, k, n), &peers), json);
    }
    for linear in LINEARS {
        for r in linear_rows(linear, &peers) {
            print_row(&r, json);
        }
    }
}

fn print_row(r: &Row, json: bool) {
    let ratio = r.gflops / r.ref_gflops;
    if json {
        let row = serde_json::json!({
            "case": r.case,
            "gflops": (r.gflops * 10.0).round() / 10.0,
            "reference": r.reference,
            "reference_gflops": (r.ref_gflops * 10.0).round() / 10.0,
            "ratio": (ratio * 1000.0).round() / 1000.0,
        });
        println!("{row}");
    } else {
        println!(
            "{:<36} {:>7.1} GFLOP/s  vs {:>7.1} ({})  ratio {:.3}",
            r.case, r.gflops, r.ref_gflops, r.reference, ratio
        );
    }
}
