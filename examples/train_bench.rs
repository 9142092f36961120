//! Step time of the two-spirals MLP's training step (`kiln_suite::train`, batch 32) compiled
//! by kiln, against the same work compiled in two graphs, and against PyTorch; and the step
//! graph's compile: cold, and a cache hit in a fresh process.
//!
//! `cargo run --release --example train_bench -- [--json] [--peers FILE]`
//!
//! Rows (`us`: median microseconds per call over the timed runs, `best_us` the best):
//! - `step_joint`: `kiln::Trainer::step`, forward + backward + SGD-momentum update in one
//!   graph, parameters updated in place (compared with PyTorch's `step_eager` and
//!   `step_compile` from `scripts/train_peers.py`, given with `--peers`);
//! - `grad_joint`: the joint graph of `kiln::grad` (forward and gradients, no update);
//! - `grad_split`: `kiln::partition`'s forward graph (which saves the matmul results), then
//!   its backward graph (which recomputes the elementwise values), compiled separately: the
//!   same gradients in two programs (both compared with PyTorch's `grad_eager`);
//! - `cnn_step_joint`: the same for a small CNN (conv2d 3->8 k3 p1, batch_norm in training
//!   mode, relu, max_pool2d 2, linear 512->10; input 3x16x16), against `cnn_step_eager` and
//!   `cnn_step_compile`;
//! - `compile_cold`: building and compiling the step graph on an empty cache (`ms`);
//! - `compile_hit_fresh_process`: a child process that builds the same trainer from the
//!   cache `compile_cold` filled: its compile (`ms`, the load) and its time from process start
//!   to the first step done (`to_first_step_ms`).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln::{CompileOptions, CompiledFunction, Compiler, GradSpec, Tensor};
use kiln_suite::train;
use serde_json::json;

const BUDGET: Duration = Duration::from_millis(1500);
const MIN_RUNS: usize = 50;

/// `(median, best)` microseconds per call of `f`, after a warm-up.
fn timed(mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..10 {
        f();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_RUNS || start.elapsed() < BUDGET {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn graph() -> kiln::Graph {
    kiln::parse(&train::mlp_text(train::HIDDEN)).expect("the MLP parses")
}

fn batch() -> (Tensor, Tensor) {
    let (x, labels) = train::spirals();
    train::batches(&x, &labels).swap_remove(0)
}

fn trainer(compiler: &Compiler) -> kiln::Trainer {
    let params = train::init_params(train::HIDDEN, train::INIT_SEED);
    compiler
        .trainer(&graph(), &train::train_spec(), params)
        .expect("the step graph builds")
}

fn step_joint() -> (f64, f64) {
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let mut t = trainer(&compiler);
    let (x, target) = batch();
    timed(|| {
        t.step(&[&x, &target]).expect("a step runs");
    })
}

/// conv-bn-relu-pool-linear with the MLP's loss; batch norm in training mode, no running stats.
const CNN: &str = "graph small_cnn
input x: f32[N, 3, 16, 16]
input target: f32[N, 10]
param cw: f32[8, 3, 3, 3]
param cb: f32[8]
param g: f32[8]
param b: f32[8]
param fw: f32[10, 512]
param fb: f32[10]
c = conv2d(x, cw, cb, padding=1)
n, m, v = batch_norm(c, None, None, g, b, training=true)
r = relu(n)
p = max_pool2d(r, 2)
f = flatten(p, start_dim=1)
z = linear(f, fw, fb)
logp = log_softmax(z, dim=1)
picked = mul(logp, target)
per_point = sum(picked, dim=1)
mean_logp = mean(per_point)
loss = neg(mean_logp)
output loss
";

/// Values in `[-bound, bound)` from a fixed generator.
fn uniform(shape: &[usize], bound: f32, seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
        })
        .collect();
    Tensor::from_f32(shape, &v)
}

fn cnn_step_joint() -> (f64, f64) {
    let g = kiln::parse(CNN).expect("the CNN parses");
    let params = vec![
        ("cw", uniform(&[8, 3, 3, 3], 0.19, 1)),
        ("cb", uniform(&[8], 0.19, 2)),
        ("g", Tensor::from_f32(&[8], &[1.0; 8])),
        ("b", Tensor::from_f32(&[8], &[0.0; 8])),
        ("fw", uniform(&[10, 512], 0.044, 3)),
        ("fb", uniform(&[10], 0.044, 4)),
    ];
    let mut spec = train::train_spec();
    spec.params = params.iter().map(|(n, _)| n.to_string()).collect();
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let mut t = compiler
        .trainer(&g, &spec, params)
        .expect("the CNN step builds");
    let x = uniform(&[train::BATCH, 3, 16, 16], 1.0, 5);
    let mut onehot = vec![0.0f32; train::BATCH * 10];
    for i in 0..train::BATCH {
        onehot[i * 10 + i % 10] = 1.0;
    }
    let target = Tensor::from_f32(&[train::BATCH, 10], &onehot);
    timed(|| {
        t.step(&[&x, &target]).expect("a CNN step runs");
    })
}

/// The step's data and parameters, in the MLP graph's input order.
fn inputs() -> Vec<Tensor> {
    let (x, target) = batch();
    let mut all = vec![x, target];
    all.extend(
        train::init_params(train::HIDDEN, train::INIT_SEED)
            .into_iter()
            .map(|(_, t)| t),
    );
    all
}

fn compile(g: &kiln::Graph) -> CompiledFunction {
    Compiler::new(CompileOptions::default().no_cache())
        .compile(g)
        .expect("compiles")
}

fn grad_spec() -> GradSpec {
    GradSpec::sum_of("loss", &train::PARAMS)
}

fn grad_joint() -> (f64, f64) {
    let joint = kiln::grad(&graph(), &grad_spec()).expect("the joint graph builds");
    let f = compile(&joint);
    let inputs = inputs();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut outs = f.run(&refs).expect("runs");
    timed(|| f.run_into(&refs, &mut outs).expect("runs"))
}

fn grad_split() -> (f64, f64) {
    let inputs = inputs();
    let shapes: Vec<Vec<i64>> = inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect();
    let g = graph();
    let p = kiln::partition(&g, &grad_spec(), &shapes).expect("the partition builds");
    let (fwd, bwd) = (compile(&p.forward), compile(&p.backward));
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut fwd_out = fwd.run(&refs).expect("forward runs");
    // The backward's inputs by name: graph inputs from `inputs`, saved values from the
    // forward's outputs after its own (index into one list: inputs, then forward outputs).
    let fwd_names = p.forward.output_names();
    let sources: Vec<usize> = p
        .backward
        .inputs()
        .iter()
        .map(|d| match g.inputs().iter().position(|i| i.name == d.name) {
            Some(i) => i,
            None => {
                let k = fwd_names.iter().position(|n| *n == d.name);
                inputs.len() + k.expect("a saved value is a forward output")
            }
        })
        .collect();
    let pick = |fwd_out: &[Tensor]| -> Vec<Tensor> {
        let all: Vec<&Tensor> = inputs.iter().chain(fwd_out).collect();
        sources.iter().map(|&i| all[i].clone()).collect()
    };
    let bwd_in = pick(&fwd_out);
    let bwd_refs: Vec<&Tensor> = bwd_in.iter().collect();
    let mut bwd_out = bwd.run(&bwd_refs).expect("backward runs");
    drop(bwd_refs);
    timed(|| {
        fwd.run_into(&refs, &mut fwd_out).expect("forward runs");
        // The saved tensors are the forward's own output buffers: no copy between the two.
        let all: Vec<&Tensor> = inputs.iter().chain(&fwd_out).collect();
        let bwd_refs: Vec<&Tensor> = sources.iter().map(|&i| all[i]).collect();
        bwd.run_into(&bwd_refs, &mut bwd_out)
            .expect("backward runs");
    })
}

/// Compile of the step graph on an empty cache in `dir`: `(compile_ms, wall_ms)`.
fn compile_cold(dir: &std::path::Path) -> (f64, f64) {
    let start = Instant::now();
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir));
    let mut t = trainer(&compiler);
    let (x, target) = batch();
    t.step(&[&x, &target]).expect("a step runs");
    let report = t.last_report().expect("compiled");
    assert_eq!(report.outcome.name(), "miss", "the cache was empty");
    (report.compile_ms, start.elapsed().as_secs_f64() * 1e3)
}

/// The child of `compile_hit_fresh_process`: one JSON line with the compile and the time from
/// process start (as close as main gets) to the first step done.
fn child(dir: &str, start: Instant) {
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir));
    let mut t = trainer(&compiler);
    let (x, target) = batch();
    t.step(&[&x, &target]).expect("a step runs");
    let report = t.last_report().expect("compiled");
    let line = json!({
        "cache": report.outcome.name(),
        "compile_ms": report.compile_ms,
        "to_first_step_ms": start.elapsed().as_secs_f64() * 1e3,
    });
    println!("{line}");
}

fn fresh_process_hit(dir: &std::path::Path) -> serde_json::Value {
    let exe = std::env::current_exe().expect("the bench's own path");
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .arg("--child-hit")
        .arg(dir)
        .output()
        .expect("the child runs");
    let wall = t.elapsed().as_secs_f64() * 1e3;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: serde_json::Value = serde_json::from_str(text.trim()).expect("the child's line");
    v["process_wall_ms"] = json!(wall);
    v
}

/// `case -> (system, median us)` from the peers script's JSON lines.
type Peers = HashMap<String, (String, f64)>;

fn read_peers(path: &str) -> Peers {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut peers = Peers::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if let (Some(case), Some(us)) = (v["case"].as_str(), v["us"].as_f64()) {
            let system = v["system"].as_str().unwrap_or("peer").to_string();
            peers.insert(case.to_string(), (system, us));
        }
    }
    peers
}

fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One timing row, with its ratios (peer time / kiln time: above 1, kiln is faster).
fn print_timing(case: &str, (us, best): (f64, f64), against: &[&str], peers: &Peers, j: bool) {
    let mut row = json!({"case": case, "us": r1(us), "best_us": r1(best)});
    let mut text = format!("{case:<28} {us:>9.1} us (best {best:.1})");
    for peer in against {
        if let Some((system, peer_us)) = peers.get(*peer) {
            let ratio = peer_us / us;
            row[format!("{peer}_us")] = json!(r1(*peer_us));
            row[format!("speedup_vs_{peer}")] = json!((ratio * 1000.0).round() / 1000.0);
            text += &format!("  {peer} ({system}) {peer_us:.1} us: {ratio:.2}x");
        }
    }
    if j {
        println!("{row}");
    } else {
        println!("{text}");
    }
}

fn main() {
    let start = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child-hit") {
        return child(args.get(i + 1).expect("--child-hit DIR"), start);
    }
    let j = args.iter().any(|a| a == "--json");
    let peers = match args.iter().position(|a| a == "--peers") {
        Some(i) => read_peers(args.get(i + 1).expect("--peers FILE")),
        None => Peers::new(),
    };
    let dir = tempfile::tempdir().expect("a scratch cache");
    let (compile_ms, wall_ms) = compile_cold(dir.path());
    let hit = fresh_process_hit(dir.path());
    if j {
        println!(
            "{}",
            json!({"case": "compile_cold", "ms": r1(compile_ms), "wall_ms": r1(wall_ms)})
        );
        let mut hit = hit;
        hit["case"] = json!("compile_hit_fresh_process");
        println!("{hit}");
    } else {
        println!(
            "compile_cold                 {compile_ms:.1} ms compile ({wall_ms:.1} ms to first step)"
        );
        println!("compile_hit_fresh_process    {hit}");
    }
    print_timing(
        "step_joint",
        step_joint(),
        &["step_eager", "step_compile"],
        &peers,
        j,
    );
    print_timing("grad_joint", grad_joint(), &["grad_eager"], &peers, j);
    print_timing("grad_split", grad_split(), &["grad_eager"], &peers, j);
    let cnn = ["cnn_step_eager", "cnn_step_compile"];
    print_timing("cnn_step_joint", cnn_step_joint(), &cnn, &peers, j);
}
