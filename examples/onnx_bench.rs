//! ONNX models through kiln: cold compile (cache miss), warm start in a fresh process (load
//! the model file, cache hit, first inference ready), inference latency at batch 1 and 8 and
//! at batch 1 after 300 ms idle (`run_b1_after_idle_ms`, median of 5: what a service with
//! spaced requests sees; on this host's idle cores 1.5-2x a back-to-back run), and the cache
//! entry's size (weights are bound parameters, never in the entry). The models are
//! `scripts/onnx_export_models.py`'s (dynamic batch) and ONNX's light ResNet-50 (batch fixed
//! at one) when the `onnx` package is installed; `scripts/onnx_peers.py` times ONNX Runtime
//! on the same files (run both in the same hour, compare ratios).
//!
//! `python3 scripts/onnx_export_models.py target/tmp/onnx-models`
//! `cargo run --release --example onnx_bench -- [--json] [--models DIR]`
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln::{CompileOptions, Compiler, Tensor};

const EXPORTED: [&str; 4] = ["resnet18", "mobilenet_v2", "squeezenet", "bert_layer"];
/// Back to back, and after 300 ms without work.
const BACK_TO_BACK: (usize, Duration) = (10, Duration::ZERO);
const AFTER_IDLE: (usize, Duration) = (5, Duration::from_millis(300));

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A seeded input of `shape` (an LCG in [-1, 1): no weight of the result depends on it).
fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f32(shape, &v)
}

/// The input shape of `model` at `batch` (the first dim replaced).
fn shape_at(path: &Path, batch: usize) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    let m = kiln_onnx::load(path)?;
    let decl = m
        .graph
        .data_inputs()
        .next()
        .ok_or("the model has no data input")?;
    Ok(decl
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            kiln_shape::Dim::Fixed(v) => *v as usize,
            kiln_shape::Dim::Sym(_) if i == 0 => batch,
            kiln_shape::Dim::Sym(_) => 1,
        })
        .collect())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// The child process of a warm start: load, hit, first inference; prints three times.
fn warm_child(path: &Path, cache: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let m = kiln_onnx::load(path)?;
    let load_ms = ms(t);
    let shape = shape_at(path, 1)?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(cache));
    let t = Instant::now();
    let model = compiler.compile(&m.graph)?.bind(m.params)?;
    let report = model.prepare(&[shape.iter().map(|&d| d as i64).collect()])?;
    let hit_ms = ms(t);
    let x = input(&shape);
    let t = Instant::now();
    model.run(&[&x])?;
    let first_ms = ms(t);
    println!("{load_ms} {hit_ms} {first_ms} {}", report.outcome.name());
    Ok(())
}

struct Row {
    model: String,
    cold_ms: f64,
    cold_outcome: String,
    warm_load_ms: f64,
    warm_hit_ms: f64,
    warm_first_run_ms: f64,
    warm_outcome: String,
    run_b1_ms: f64,
    run_b1_after_idle_ms: f64,
    run_b8_ms: Option<f64>,
    entry_bytes: u64,
    weight_bytes: u64,
}

/// Median of `repeats` runs at `shape`, each after `pause` without work (zero: back to
/// back), following one run that compiles or hits the specialisation.
fn latency(
    model: &kiln::Model,
    shape: &[usize],
    (repeats, pause): (usize, std::time::Duration),
) -> Result<f64, Box<dyn std::error::Error>> {
    let x = input(shape);
    model.run(&[&x])?;
    let mut v = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        let t = Instant::now();
        model.run(&[&x])?;
        v.push(ms(t));
    }
    Ok(median(v))
}

fn bench(name: &str, path: &Path, dynamic: bool) -> Result<Row, Box<dyn std::error::Error>> {
    let cache = tempfile::tempdir()?;
    let m = kiln_onnx::load(path)?;
    let weight_bytes = m.params.iter().map(|(_, t)| t.numel() as u64 * 4).sum();
    let shape1 = shape_at(path, 1)?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(cache.path()));
    let t = Instant::now();
    let model = compiler.compile(&m.graph)?.bind(m.params)?;
    let cold = model.prepare(&[shape1.iter().map(|&d| d as i64).collect()])?;
    let cold_ms = ms(t);
    // A miss's entry is written by the store thread: wait for it before measuring.
    kiln::flush_pending_stores();
    let entry_bytes = dir_bytes(cache.path());
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--warm-child", &path.display().to_string()])
        .arg(cache.path())
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() != 4 {
        return Err(format!(
            "warm child: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let run_b1_ms = latency(&model, &shape1, BACK_TO_BACK)?;
    let run_b1_after_idle_ms = latency(&model, &shape1, AFTER_IDLE)?;
    let run_b8_ms = if dynamic {
        Some(latency(&model, &shape_at(path, 8)?, BACK_TO_BACK)?)
    } else {
        None
    };
    Ok(Row {
        model: name.to_string(),
        cold_ms,
        cold_outcome: cold.outcome.name().to_string(),
        warm_load_ms: f[0].parse()?,
        warm_hit_ms: f[1].parse()?,
        warm_first_run_ms: f[2].parse()?,
        warm_outcome: f[3].to_string(),
        run_b1_ms,
        run_b1_after_idle_ms,
        run_b8_ms,
        entry_bytes,
        weight_bytes,
    })
}

fn light_resnet50() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.dirname(onnx.__file__))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim())
        .join("backend/test/data/light/light_resnet50.onnx");
    p.exists().then_some(p)
}

fn print(r: &Row, json: bool) {
    let b8 = r.run_b8_ms.map_or("null".into(), |v| format!("{v:.3}"));
    if json {
        println!(
            "{{\"model\": \"{}\", \"cold_compile_ms\": {:.3}, \"cold_outcome\": \"{}\", \"warm_load_ms\": {:.3}, \"warm_hit_ms\": {:.3}, \"warm_first_run_ms\": {:.3}, \"warm_outcome\": \"{}\", \"run_b1_ms\": {:.3}, \"run_b1_after_idle_ms\": {:.3}, \"run_b8_ms\": {b8}, \"entry_bytes\": {}, \"weight_bytes\": {}}}",
            r.model,
            r.cold_ms,
            r.cold_outcome,
            r.warm_load_ms,
            r.warm_hit_ms,
            r.warm_first_run_ms,
            r.warm_outcome,
            r.run_b1_ms,
            r.run_b1_after_idle_ms,
            r.entry_bytes,
            r.weight_bytes
        );
    } else {
        println!(
            "{:<14} cold ({}) {:>8.1} ms | warm: load {:>6.1} + {} {:>6.1} + first run {:>7.1} ms | run b1 {:>7.2} ms (after idle {:>7.2}), b8 {b8} ms | entry {} B (weights {} B)",
            r.model,
            r.cold_outcome,
            r.cold_ms,
            r.warm_load_ms,
            r.warm_outcome,
            r.warm_hit_ms,
            r.warm_first_run_ms,
            r.run_b1_ms,
            r.run_b1_after_idle_ms,
            r.entry_bytes,
            r.weight_bytes
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, model, cache] = args.as_slice()
        && flag == "--warm-child"
    {
        return warm_child(Path::new(model), Path::new(cache));
    }
    let json = args.iter().any(|a| a == "--json");
    let dir = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/tmp/onnx-models"));
    let mut cases: Vec<(String, PathBuf, bool)> = EXPORTED
        .iter()
        .map(|m| (m.to_string(), dir.join(format!("{m}.onnx")), true))
        .filter(|(_, p, _)| p.exists())
        .collect();
    if cases.is_empty() {
        eprintln!(
            "onnx_bench: no models in {} (run scripts/onnx_export_models.py)",
            dir.display()
        );
    }
    if let Some(p) = light_resnet50() {
        cases.push(("light_resnet50".into(), p, false));
    }
    for (name, path, dynamic) in cases {
        match bench(&name, &path, dynamic) {
            Ok(r) => print(&r, json),
            Err(e) => eprintln!("onnx_bench: {name}: {e}"),
        }
    }
    Ok(())
}
