//! Throughput of kiln's CPU kernels next to what the memory system allows, and compile time.
//!
//! `cargo run --release --example kernel_bench -- [--json] [--reps N] [--only NAME] [--clif]
//! [--code DIR]`
//!
//! `--sweep` times `x + y` and the fused chain at 2^10..2^20 elements (ns per element), for
//! choosing kiln-cpu's parallel threshold: run it with `KILN_CPU_PARALLEL_MIN_WORK=1` (always
//! split) and `=1000000000000` (never) and take the size where splitting starts to win.
//!
//! `--code DIR` writes each selected case's kernels' machine code to `DIR/<case>.<kernel>.bin`
//! (read it with `objdump -D -b binary -m i386:x86-64 FILE`).
//!
//! In one process, on 16M-element f32 tensors, it measures a memcpy (`copy_from_slice`) and a
//! STREAM triad (`a = b + 1.5*c`) in plain Rust over rayon's pool, then kiln's fused
//! `sigmoid(relu(x*y + z))*2 - 1` and `x + y` (into preallocated outputs with `run_into`, and
//! with fresh outputs per call with `run`: the `/alloc` rows, timed in alternation with the
//! triad and `run_into`, whose `ratio_to_run_into` is the price of allocating; the
//! `/alloc_calloc` rows allocate a zeroed `Vec` per output per call instead, as `run` did
//! before it took outputs from the program's pool), `max_pool2d(k=3, s=2, p=1)` and
//! `adaptive_avg_pool2d(., [7, 7])` on (32, 64, 112, 112), and the compile time (graph to
//! callable kernels, no cache) of the seed's small graphs. Throughput counts bytes read plus
//! bytes written; every figure is the median of several runs after a warm-up, since the
//! machine is small, shared and noisy. Each case's ratio is to the reference loop timed in
//! alternation with it (`reference_gbps` in its row): the shared host's memory bandwidth
//! drifts by up to 2x within minutes, so a reference measured once at the start would skew
//! later ratios. The `memcpy` and `triad` rows are those loops alone, at the start.
use std::time::Instant;

use kiln::{CompileOptions, Compiler, DynamicPolicy, Tensor};
use rayon::prelude::*;
use serde_json::json;

const ELEMENTWISE_N: usize = 1 << 24;
const POOL_SHAPE: [usize; 4] = [32, 64, 112, 112];
/// Elements per rayon task in the plain-Rust reference loops.
const REFERENCE_CHUNK: usize = 1 << 16;

struct Options {
    json: bool,
    reps: usize,
    only: Option<String>,
    /// Print the CLIF of each selected case's kernels instead of timing them.
    clif: bool,
    /// Write the machine code of each selected case's kernels into this directory instead.
    code_dir: Option<String>,
    /// Time small elementwise kernels at growing sizes instead.
    sweep: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        json: false,
        reps: 9,
        only: None,
        clif: false,
        code_dir: None,
        sweep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => opts.json = true,
            "--clif" => opts.clif = true,
            "--sweep" => opts.sweep = true,
            "--reps" => {
                let v = args.next().ok_or("--reps needs a number")?;
                opts.reps = v
                    .parse::<usize>()
                    .map_err(|e| format!("--reps {v}: {e}"))?
                    .max(1);
            }
            "--code" => opts.code_dir = Some(args.next().ok_or("--code needs a directory")?),
            "--only" => opts.only = Some(args.next().ok_or("--only needs a case name")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(opts)
}

/// Median seconds of `reps` calls of `f`, after two warm-up calls.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Deterministic pseudo-random data in [-1, 1), generated in parallel.
fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut values = vec![0f32; n];
    values
        .par_chunks_mut(REFERENCE_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut state = seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for v in chunk {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *v = ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            }
        });
    Tensor::from_f32(shape, &values)
}

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// The plain-Rust reference loops (memcpy and STREAM triad over 16M f32) and their buffers.
struct Reference {
    src: Vec<f32>,
    c: Vec<f32>,
    dst: Vec<f32>,
}

impl Reference {
    fn new() -> Self {
        let n = ELEMENTWISE_N;
        Reference {
            src: vec![1.0f32; n],
            c: vec![2.0f32; n],
            dst: vec![0.0f32; n],
        }
    }

    fn copy(&mut self) {
        self.dst
            .par_chunks_mut(REFERENCE_CHUNK)
            .zip(self.src.par_chunks(REFERENCE_CHUNK))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&self.dst);
    }

    fn triad(&mut self) {
        self.dst
            .par_chunks_mut(REFERENCE_CHUNK)
            .zip(self.src.par_chunks(REFERENCE_CHUNK))
            .zip(self.c.par_chunks(REFERENCE_CHUNK))
            .for_each(|((a, b), c)| {
                for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + 1.5 * c;
                }
            });
        std::hint::black_box(&self.dst);
    }

    /// GB/s of the copy (`triad == false`) or the triad, counting bytes read and written.
    fn gbps(&self, triad: bool, secs: f64) -> f64 {
        let arrays = if triad { 3 } else { 2 };
        gbps(arrays * 4 * ELEMENTWISE_N, secs)
    }

    fn run(&mut self, triad: bool) {
        if triad { self.triad() } else { self.copy() }
    }
}

/// Medians of `reps` alternating calls of `reference` and `kernel` (after two warm-ups each):
/// both see the same machine, whose memory bandwidth drifts by up to 2x within minutes.
fn paired_medians(
    reps: usize,
    mut reference: impl FnMut(),
    mut kernel: impl FnMut(),
) -> (f64, f64) {
    for _ in 0..2 {
        reference();
        kernel();
    }
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut r, mut k): (Vec<f64>, Vec<f64>) = (0..reps)
        .map(|_| (time(&mut reference), time(&mut kernel)))
        .unzip();
    r.sort_by(f64::total_cmp);
    k.sort_by(f64::total_cmp);
    (r[reps / 2], k[reps / 2])
}

struct Case {
    name: &'static str,
    graph: &'static str,
    shapes: Vec<Vec<usize>>,
    /// Compared with the triad (elementwise) or with memcpy (pooling).
    against_triad: bool,
}

fn cases() -> Vec<Case> {
    let side = 1usize << 12; // 4096 x 4096 = 16M elements
    vec![
        Case {
            name: "fused_sigmoid_relu",
            graph: "graph fused\ninput x: f32[N, D]\ninput y: f32[N, D]\ninput z: f32[1, D]\n\
                    xy = mul(x, y)\ns = add(xy, z)\nr = relu(s)\ng = sigmoid(r)\n\
                    t = mul(g, 2.0)\nout = sub(t, 1.0)\noutput out\n",
            shapes: vec![vec![side, side], vec![side, side], vec![1, side]],
            against_triad: true,
        },
        Case {
            name: "add",
            graph: "graph add\ninput x: f32[N]\ninput y: f32[N]\nz = add(x, y)\noutput z\n",
            shapes: vec![vec![ELEMENTWISE_N], vec![ELEMENTWISE_N]],
            against_triad: true,
        },
        Case {
            name: "max_pool2d_k3s2p1",
            graph: "graph mp\ninput x: f32[N, C, H, W]\n\
                    y = max_pool2d(x, kernel_size=3, stride=2, padding=1)\noutput y\n",
            shapes: vec![POOL_SHAPE.to_vec()],
            against_triad: false,
        },
        Case {
            name: "adaptive_avg_pool2d_7x7",
            graph: "graph ap\ninput x: f32[N, C, H, W]\n\
                    y = adaptive_avg_pool2d(x, [7, 7])\noutput y\n",
            shapes: vec![POOL_SHAPE.to_vec()],
            against_triad: false,
        },
    ]
}

/// The seed's small graphs and their input shapes, for compile time.
fn seed_graphs() -> Vec<(&'static str, &'static str, Vec<Vec<i64>>)> {
    vec![
        (
            "seed_add2",
            "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\n\
             output a, b\n",
            vec![vec![4, 5], vec![6, 7]],
        ),
        (
            "seed_mul",
            "graph mul\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\noutput z\n",
            vec![vec![64], vec![64]],
        ),
        (
            "seed_adaptive_5x7",
            "graph adaptive\ninput x: f32[N, C, H, W]\ny = adaptive_avg_pool2d(x, [5, 7])\n\
             output y\n",
            vec![vec![1, 64, 8, 9]],
        ),
    ]
}

/// Median milliseconds from graph to callable kernels (no cache, fresh specialisation).
fn compile_ms(
    src: &str,
    shapes: &[Vec<i64>],
    reps: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let graph = kiln::parse(src)?;
    let compiler = Compiler::new(
        CompileOptions::default()
            .no_cache()
            .dynamic(DynamicPolicy::Static),
    );
    let f = compiler.compile(&graph)?;
    let mut failure = None;
    let secs = median_secs(reps, || {
        f.reset();
        if let Err(e) = f.prepare(shapes) {
            failure = Some(e);
        }
    });
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(secs * 1e3),
    }
}

fn emit(opts: &Options, row: serde_json::Value) {
    if opts.json {
        println!("{row}");
    } else {
        let case = row["case"].as_str().unwrap_or("?");
        let gbps = row["gbps"]
            .as_f64()
            .map_or(String::new(), |g| format!("{g:7.2} GB/s"));
        let ratio = ["ratio_to_triad", "ratio_to_copy"]
            .iter()
            .find_map(|k| row[*k].as_f64().map(|r| format!("  {r:.2}x {}", &k[9..])))
            .unwrap_or_default();
        let fresh = row["ratio_to_run_into"]
            .as_f64()
            .map_or(String::new(), |r| format!("  {r:.2}x run_into"));
        let ms = row["compile_ms"]
            .as_f64()
            .map_or(String::new(), |m| format!("  compile {m:.2} ms"));
        println!("{case:<34}{gbps}{ratio}{fresh}{ms}");
    }
}

fn run_case(
    opts: &Options,
    case: &Case,
    refs: &mut Reference,
) -> Result<(), Box<dyn std::error::Error>> {
    let graph = kiln::parse(case.graph)?;
    // Pooling specialises H and W (adaptive pooling needs them static): compile the benchmark
    // shapes statically, as PyTorch would on the first call.
    let compiler = Compiler::new(
        CompileOptions::default()
            .no_cache()
            .dynamic(DynamicPolicy::Static),
    );
    let f = compiler.compile(&graph)?;
    let inputs: Vec<Tensor> = case
        .shapes
        .iter()
        .enumerate()
        .map(|(i, s)| data(s, i as u64 + 1))
        .collect();
    let refs_in: Vec<&Tensor> = inputs.iter().collect();
    let shapes: Vec<Vec<i64>> = case
        .shapes
        .iter()
        .map(|s| s.iter().map(|&d| d as i64).collect())
        .collect();
    let report = f.prepare(&shapes)?;
    if opts.clif {
        println!("{}", kiln_cpu::emit_clif(f.executable(&shapes)?.program()));
        return Ok(());
    }
    if let Some(dir) = &opts.code_dir {
        let (_, artifact) = kiln_cpu::compile(f.executable(&shapes)?.program())?;
        std::fs::create_dir_all(dir)?;
        for k in &artifact.kernels {
            std::fs::write(format!("{dir}/{}.{}.bin", case.name, k.name), &k.code)?;
        }
        return Ok(());
    }
    let mut outputs = f.run(&refs_in)?;
    let bytes = inputs.iter().map(|t| t.data.len()).sum::<usize>()
        + outputs.iter().map(|t| t.data.len()).sum::<usize>();
    let triad = case.against_triad;
    let key = if triad {
        "ratio_to_triad"
    } else {
        "ratio_to_copy"
    };
    let mut failure = None;
    let (ref_secs, secs) = paired_medians(
        opts.reps,
        || refs.run(triad),
        || {
            if let Err(e) = f.run_into(&refs_in, &mut outputs) {
                failure = Some(e);
            }
        },
    );
    if let Some(e) = failure {
        return Err(e.into());
    }
    let (g, reference) = (gbps(bytes, secs), refs.gbps(triad, ref_secs));
    emit(
        opts,
        json!({"case": case.name, "gbps": g, key: g / reference, "reference_gbps": reference,
               "compile_ms": report.compile_ms}),
    );
    if triad {
        // Fresh outputs (what `run` returns, as PyTorch and JAX do), timed in alternation with
        // the triad and with `run_into` on the same inputs: `ratio_to_run_into` is the cost of
        // allocating the outputs.
        let specs: Vec<_> = outputs
            .iter()
            .map(|o| (o.dtype, o.shape.clone(), o.data.len()))
            .collect();
        let mut run_into = || {
            if let Err(e) = f.run_into(&refs_in, &mut outputs) {
                failure = Some(e);
            }
        };
        let mut fresh_failure = None;
        let mut run = || match f.run(&refs_in) {
            Ok(out) => drop(std::hint::black_box(out)),
            Err(e) => fresh_failure = Some(e),
        };
        // What `run` did before outputs came from a pool: a zeroed `Vec` per output per call
        // (calloc: a fresh mapping whose pages fault in during the kernel), then the kernels.
        let mut calloc_failure = None;
        let mut calloc = || {
            let mut fresh: Vec<Tensor> = specs
                .iter()
                .map(|(dtype, shape, bytes)| Tensor {
                    dtype: *dtype,
                    shape: shape.clone(),
                    data: vec![0u8; *bytes].into(),
                })
                .collect();
            if let Err(e) = f.run_into(&refs_in, &mut fresh) {
                calloc_failure = Some(e);
            }
            drop(std::hint::black_box(fresh));
        };
        let medians = alternating_medians(
            opts.reps,
            &mut [
                &mut || refs.run(triad),
                &mut run_into,
                &mut run,
                &mut calloc,
            ],
        );
        if let Some(e) = failure.or(fresh_failure).or(calloc_failure) {
            return Err(e.into());
        }
        let (g, reference) = (gbps(bytes, medians[3]), refs.gbps(triad, medians[0]));
        emit(
            opts,
            json!({"case": format!("{}/alloc_calloc", case.name), "gbps": g, key: g / reference,
                   "ratio_to_run_into": medians[1] / medians[3],
                   "reference_gbps": reference, "compile_ms": report.compile_ms}),
        );
        let (g, reference) = (gbps(bytes, medians[2]), refs.gbps(triad, medians[0]));
        emit(
            opts,
            json!({"case": format!("{}/alloc", case.name), "gbps": g, key: g / reference,
                   "ratio_to_run_into": medians[1] / medians[2],
                   "reference_gbps": reference, "compile_ms": report.compile_ms}),
        );
    }
    Ok(())
}

/// Medians of `reps` rounds calling each of `fns` once in turn (after two warm-up rounds).
fn alternating_medians(reps: usize, fns: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut times = vec![Vec::with_capacity(reps); fns.len()];
    for round in 0..reps + 2 {
        for (f, t) in fns.iter_mut().zip(&mut times) {
            let start = Instant::now();
            f();
            if round >= 2 {
                t.push(start.elapsed().as_secs_f64());
            }
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
}

/// ns per element of `x + y` and of the fused chain at 2^10..2^20 elements.
fn sweep(opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let cases = cases();
    for case in cases.iter().filter(|c| c.against_triad) {
        let graph = kiln::parse(case.graph)?;
        let compiler = Compiler::new(
            CompileOptions::default()
                .no_cache()
                .dynamic(DynamicPolicy::Static),
        );
        let f = compiler.compile(&graph)?;
        for log2 in 10..=20u32 {
            let n = 1usize << log2;
            // Rows of 1024 for the fused case's broadcast operand, one row for `add`.
            let shapes: Vec<Vec<usize>> = if case.shapes[0].len() == 2 {
                vec![vec![n / 1024, 1024], vec![n / 1024, 1024], vec![1, 1024]]
            } else {
                vec![vec![n], vec![n]]
            };
            let inputs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| data(s, i as u64 + 1))
                .collect();
            let refs_in: Vec<&Tensor> = inputs.iter().collect();
            let mut outputs = f.run(&refs_in)?;
            let reps = (opts.reps * (1 << 20) / n).max(opts.reps);
            let mut failure = None;
            let secs = median_secs(reps, || {
                if let Err(e) = f.run_into(&refs_in, &mut outputs) {
                    failure = Some(e);
                }
            });
            if let Some(e) = failure {
                return Err(e.into());
            }
            let row = json!({"case": format!("sweep/{}", case.name), "elements": n,
                             "ns_per_element": secs * 1e9 / n as f64});
            println!("{row}");
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_args()?;
    if opts.sweep {
        return sweep(&opts);
    }
    let wanted = |name: &str| opts.only.as_deref().is_none_or(|o| name.contains(o));
    let mut refs = Reference::new();
    let threads = rayon::current_num_threads();
    let copy = median_secs(opts.reps, || refs.copy());
    let copy_gbps = refs.gbps(false, copy);
    emit(
        &opts,
        json!({"case": "memcpy", "gbps": copy_gbps, "ratio_to_copy": 1.0, "threads": threads}),
    );
    let triad = median_secs(opts.reps, || refs.triad());
    let triad_gbps = refs.gbps(true, triad);
    emit(
        &opts,
        json!({"case": "triad", "gbps": triad_gbps, "ratio_to_triad": 1.0, "threads": threads}),
    );
    for case in cases().iter().filter(|c| wanted(c.name)) {
        run_case(&opts, case, &mut refs)?;
    }
    for (name, src, shapes) in seed_graphs() {
        let case = format!("compile/{name}");
        if wanted(&case) {
            let ms = compile_ms(src, &shapes, opts.reps.max(15))?;
            emit(&opts, json!({"case": case, "compile_ms": ms}));
        }
    }
    Ok(())
}
