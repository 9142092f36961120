//! What the cache saves: compile time on a miss against load time on a hit, in this process
//! (after `reset()`) and in a fresh process, for the seed's graphs and a 10-op fused chain;
//! and hit latency with 10,000 entries on disk (100 keys x 100 guard variants) against one.
//!
//! `cargo run --release --example cache_bench -- [--json]`
//!
//! The fresh-process numbers come from this binary run again as
//! `cache_bench --child-hit <graph> <cache dir>`, which times its first `prepare`; the
//! `cli_hit_ms` figures time the whole `kiln run` process on a hit (spawn to outputs written,
//! small inputs), when the `kiln` binary of the same profile is built beside this example.
//! `cache_bench --hit-loop N [CASE]` runs only N hits of one graph, for a profiler.
//! Each row also has `compile_ms` (the same graph compiled with no cache, in this process)
//! and `hit_phases_us`, the median of each phase of the hits (see `kiln::Phases`). `miss_phases_us` the same for the misses.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kiln::{CompileOptions, Compiler, DynamicPolicy, Outcome};
use kiln_cache::{Cache, CacheConfig, Entry};
use kiln_shape::{Cond, Expr, GuardSet};

const MISS_RUNS: usize = 15;
const HIT_RUNS: usize = 200;
const CHILD_RUNS: usize = 5;
const SCALE_KEYS: usize = 100;
const SCALE_VARIANTS: i64 = 100;
/// Variant `i` of a scale entry is valid only for `N == SCALE_BASE + i`.
const SCALE_BASE: i64 = 1000;
const POPULATE_THREADS: usize = 8;

struct Case {
    name: &'static str,
    src: &'static str,
    policy: DynamicPolicy,
    shapes: &'static [&'static [i64]],
}

const CASES: [Case; 4] = [
    Case {
        name: "x+x, y+y",
        src: "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b\n",
        policy: DynamicPolicy::Dynamic,
        shapes: &[&[5, 6], &[7, 8]],
    },
    Case {
        name: "x*y",
        src: "graph mul\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\noutput z\n",
        policy: DynamicPolicy::Dynamic,
        shapes: &[&[25], &[25]],
    },
    Case {
        name: "adaptive_avg_pool2d(x, [5, 7])",
        src: "graph adaptive\ninput x: f32[N, C, H, W]\ny = adaptive_avg_pool2d(x, [5, 7])\noutput y\n",
        // As in the seed: dynamic, with the pooling lowering guarding H and W to their values.
        policy: DynamicPolicy::Dynamic,
        shapes: &[&[1, 64, 8, 9]],
    },
    Case {
        name: "fused 10-op elementwise",
        src: "graph fused10\ninput x: f32[N, D]\ninput y: f32[N, D]\na = mul(x, y)\nb = add(a, x)\n\
              c = relu(b)\nd = sigmoid(c)\ne = mul(d, 2.0)\nf = sub(e, 1.0)\ng = tanh(f)\nh = exp(g)\n\
              i = mul(h, y)\nj = add(i, 0.5)\noutput j\n",
        policy: DynamicPolicy::Dynamic,
        shapes: &[&[64, 128], &[64, 128]],
    },
];

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn shapes(case: &Case) -> Vec<Vec<i64>> {
    case.shapes.iter().map(|s| s.to_vec()).collect()
}

fn compiler(dir: &Path, policy: DynamicPolicy) -> Compiler {
    Compiler::new(CompileOptions::default().cache_dir(dir).dynamic(policy))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Times one `prepare` and checks its outcome.
fn timed_prepare(
    f: &kiln::CompiledFunction,
    shapes: &[Vec<i64>],
    want: Outcome,
) -> BenchResult<f64> {
    timed_report(f, shapes, want).map(|(ms, _)| ms)
}

/// Times one `prepare`, checks its outcome and returns its phases too.
fn timed_report(
    f: &kiln::CompiledFunction,
    shapes: &[Vec<i64>],
    want: Outcome,
) -> BenchResult<(f64, kiln::Phases)> {
    let start = Instant::now();
    let report = f.prepare(shapes)?;
    let ms = elapsed_ms(start);
    if report.outcome != want {
        return Err(format!("expected {want:?}, got {:?}", report.outcome).into());
    }
    Ok((ms, report.phases))
}

/// The median of each phase over `phases`, as a JSON object.
fn median_phases(phases: &[kiln::Phases]) -> BenchResult<serde_json::Value> {
    let rows: Vec<serde_json::Value> = phases
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let mut out = serde_json::Map::new();
    if let Some(first) = rows.first().and_then(|r| r.as_object()) {
        for name in first.keys() {
            let values = rows.iter().filter_map(|r| r[name].as_f64()).collect();
            out.insert(name.clone(), serde_json::json!(median(values)));
        }
    }
    Ok(serde_json::Value::Object(out))
}

struct CaseResult {
    graph: &'static str,
    miss_ms: f64,
    warm_dir_miss_ms: f64,
    hit_ms: f64,
    compile_ms: f64,
    hit_phases: serde_json::Value,
    miss_phases: serde_json::Value,
    fresh_process_hit_ms: f64,
    /// `None` when the `kiln` binary is not built beside this example.
    cli_hit_ms: Option<f64>,
}

impl CaseResult {
    fn speedup(&self) -> f64 {
        self.miss_ms / self.hit_ms
    }
}

fn bench_case(case: &Case) -> BenchResult<CaseResult> {
    let graph = kiln::parse(case.src)?;
    let shapes = shapes(case);
    // Misses (in a fresh directory, and in one that already exists and holds another entry:
    // the steady state of a service or CI cache) alternate with compiles without a cache, so
    // that all three see the same machine and the same warmed-up process.
    let primer = kiln::parse("graph primer\ninput p: f32[4]\nq = neg(p)\noutput q\n")?;
    let uncached =
        Compiler::new(CompileOptions::default().no_cache().dynamic(case.policy)).compile(&graph)?;
    let (mut misses, mut miss_phases) = (Vec::new(), Vec::new());
    let (mut warm_misses, mut compiles) = (Vec::new(), Vec::new());
    for _ in 0..MISS_RUNS {
        let dir = tempfile::tempdir()?;
        let f = compiler(dir.path(), case.policy).compile(&graph)?;
        let (ms, p) = timed_report(&f, &shapes, Outcome::Miss)?;
        misses.push(ms);
        miss_phases.push(p);

        let dir = tempfile::tempdir()?;
        let c = compiler(dir.path(), case.policy);
        timed_prepare(&c.compile(&primer)?, &[vec![4]], Outcome::Miss)?;
        warm_misses.push(timed_prepare(&c.compile(&graph)?, &shapes, Outcome::Miss)?);

        uncached.reset();
        let start = Instant::now();
        uncached.prepare(&shapes)?;
        compiles.push(elapsed_ms(start));
    }

    let warm = tempfile::tempdir()?;
    let f = compiler(warm.path(), case.policy).compile(&graph)?;
    timed_prepare(&f, &shapes, Outcome::Miss)?;
    let (mut hits, mut phases) = (Vec::new(), Vec::new());
    for _ in 0..HIT_RUNS {
        f.reset();
        let (ms, p) = timed_report(&f, &shapes, Outcome::Hit)?;
        hits.push(ms);
        phases.push(p);
    }

    let mut children = Vec::new();
    for _ in 0..CHILD_RUNS {
        children.push(child_hit_ms(case.name, warm.path())?);
    }
    Ok(CaseResult {
        graph: case.name,
        miss_ms: median(misses),
        warm_dir_miss_ms: median(warm_misses),
        hit_ms: median(hits),
        compile_ms: median(compiles),
        hit_phases: median_phases(&phases)?,
        miss_phases: median_phases(&miss_phases)?,
        fresh_process_hit_ms: median(children),
        cli_hit_ms: cli_hit_ms(case)?,
    })
}

/// The `kiln` binary of this profile (`target/<profile>/kiln`, beside `examples/`), if built.
fn kiln_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("kiln");
    bin.is_file().then_some(bin)
}

/// A `.npy` (version 1.0) file of f32 zeros of `shape`.
fn zeros_npy_f32(shape: &[i64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let numel: i64 = shape.iter().product();
    out.resize(out.len() + numel as usize * 4, 0);
    out
}

/// Median wall time of `kiln run` on a warm cache: process start to outputs written.
fn cli_hit_ms(case: &Case) -> BenchResult<Option<f64>> {
    let Some(kiln) = kiln_binary() else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let graph_file = dir.path().join("graph.kiln");
    std::fs::write(&graph_file, case.src)?;
    let graph = kiln::parse(case.src)?;
    let mut cmd = Command::new(&kiln);
    cmd.arg("run").arg(&graph_file);
    for (decl, shape) in graph.inputs().iter().zip(case.shapes) {
        let path = dir.path().join(format!("{}.npy", decl.name));
        std::fs::write(&path, zeros_npy_f32(shape))?;
        cmd.arg("--input")
            .arg(format!("{}={}", decl.name, path.display()));
    }
    let policy = match case.policy {
        DynamicPolicy::Static => "static",
        DynamicPolicy::Dynamic => "dynamic",
        DynamicPolicy::Auto => "auto",
    };
    cmd.args(["--dynamic", policy, "--out"])
        .arg(dir.path().join("out"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_remove("KILN_LOG")
        .env_remove("RUST_LOG");
    let mut runs = Vec::new();
    for i in 0..CHILD_RUNS + 1 {
        let start = Instant::now();
        let output = cmd.output()?;
        let ms = elapsed_ms(start);
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            return Err(format!("kiln run failed ({}): {err}", output.status).into());
        }
        // The first run compiles and stores; the others hit.
        if i > 0 {
            runs.push(ms);
        }
    }
    Ok(Some(median(runs)))
}

/// Runs this binary as a child that times its first `prepare` on the warm `dir`.
fn child_hit_ms(graph: &str, dir: &Path) -> BenchResult<f64> {
    let output = Command::new(std::env::current_exe()?)
        .arg("--child-hit")
        .arg(graph)
        .arg(dir)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("child failed ({}): {stdout}{stderr}", output.status).into());
    }
    Ok(stdout.trim().parse()?)
}

/// Child mode: open the warm cache, time the first prepare (must hit), print milliseconds.
fn child_hit(graph: &str, dir: &Path) -> BenchResult<()> {
    let case = CASES
        .iter()
        .find(|c| c.name == graph)
        .ok_or_else(|| format!("unknown graph {graph:?}"))?;
    let start = Instant::now();
    let f = compiler(dir, case.policy).compile(&kiln::parse(case.src)?)?;
    let report = f.prepare(&shapes(case))?;
    let ms = elapsed_ms(start);
    if report.outcome != Outcome::Hit {
        return Err(format!("the child expected a hit, got {:?}", report.outcome).into());
    }
    println!("{ms}");
    Ok(())
}

struct ScaleResult {
    entries: usize,
    one_entry_hit_ms: f64,
    scale_hit_ms: f64,
    populate_s: f64,
}

fn scale_graph(k: usize) -> BenchResult<kiln::Graph> {
    let src = format!(
        "graph scaled\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\nw = mul(z, {k}.5)\noutput w\n"
    );
    Ok(kiln::parse(&src)?)
}

/// The real entry of `graph`, compiled into a scratch cache.
fn real_entry(graph: &kiln::Graph, scratch: &Path) -> BenchResult<Entry> {
    let c = compiler(scratch, DynamicPolicy::Dynamic);
    let report = c
        .compile(graph)?
        .prepare(&[vec![SCALE_BASE], vec![SCALE_BASE]])?;
    let key = report.key.ok_or("no cache key")?;
    let cache = c.cache().ok_or("no cache")?;
    cache
        .entries_for(&key)
        .into_iter()
        .next()
        .ok_or_else(|| "the compiled entry was not stored".into())
}

/// `entry` made valid only for `N == n` (its artifact serves any N of its class).
fn variant(entry: &Entry, n: i64) -> Entry {
    let mut conds = entry.guards.conds().to_vec();
    conds.push(Cond::eq(Expr::sym("N"), Expr::int(n)));
    Entry {
        guards: GuardSet::new(conds),
        ..entry.clone()
    }
}

/// Puts the 100 guard variants of key `k`; returns its graph and the `N` of the variant
/// whose file sorts last under the key.
fn populate_key(cache: &Cache, scratch: &Path, k: usize) -> BenchResult<(kiln::Graph, i64)> {
    let graph = scale_graph(k)?;
    let real = real_entry(&graph, scratch)?;
    let mut last: Option<(String, i64)> = None;
    for i in 0..SCALE_VARIANTS {
        let v = variant(&real, SCALE_BASE + i);
        cache.put(&v)?;
        let (name, _) = kiln_cache::encode(&v, None)?;
        if last.as_ref().is_none_or(|(best, _)| name > *best) {
            last = Some((name, SCALE_BASE + i));
        }
    }
    let (_, n) = last.ok_or("no variant")?;
    Ok((graph, n))
}

/// Median hit latency of `graph` for `N == n` through the driver on `dir`.
fn hit_latency(dir: &Path, graph: &kiln::Graph, n: i64) -> BenchResult<f64> {
    let f = compiler(dir, DynamicPolicy::Dynamic).compile(graph)?;
    let shapes = [vec![n], vec![n]];
    let mut hits = Vec::new();
    for _ in 0..HIT_RUNS {
        f.reset();
        hits.push(timed_prepare(&f, &shapes, Outcome::Hit)?);
    }
    Ok(median(hits))
}

/// 100 keys x 100 guard variants written through kiln_cache from real entries; the measured
/// hit is on the variant whose file sorts last under its key (every other one is rejected
/// first), against a cache holding only the real entry.
fn bench_scale() -> BenchResult<ScaleResult> {
    let started = Instant::now();
    let scratch = tempfile::tempdir()?;
    let big = tempfile::tempdir()?;
    let big_cache = Cache::open(CacheConfig {
        dir: big.path().to_path_buf(),
        ..CacheConfig::from_env()
    })?;
    // Keys are independent: populate them from a few threads (the puts wait on fsync).
    let populated: Vec<BenchResult<(kiln::Graph, i64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..POPULATE_THREADS)
            .map(|t| {
                let (cache, scratch) = (&big_cache, scratch.path());
                scope.spawn(move || -> Vec<BenchResult<(kiln::Graph, i64)>> {
                    (t..SCALE_KEYS)
                        .step_by(POPULATE_THREADS)
                        .map(|k| populate_key(cache, scratch, k))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut measured = None;
    for result in populated {
        let (graph, n) = result.map_err(|e| e.to_string())?;
        if measured.is_none() {
            measured = Some((graph, n));
        }
    }
    let populate_s = started.elapsed().as_secs_f64();
    let (graph, n) = measured.ok_or("no scale key")?;
    let entries = big_cache.list()?.len();
    let scale_hit_ms = hit_latency(big.path(), &graph, n)?;

    let one = tempfile::tempdir()?;
    let one_cache = Cache::open(CacheConfig {
        dir: one.path().to_path_buf(),
        ..CacheConfig::from_env()
    })?;
    one_cache.put(&variant(&real_entry(&graph, scratch.path())?, n))?;
    let one_entry_hit_ms = hit_latency(one.path(), &graph, n)?;
    Ok(ScaleResult {
        entries,
        one_entry_hit_ms,
        scale_hit_ms,
        populate_s,
    })
}

fn print_json(results: &[CaseResult], scale: &ScaleResult) {
    for r in results {
        println!(
            "{}",
            serde_json::json!({
                "graph": r.graph,
                "miss_ms": r.miss_ms,
                "hit_ms": r.hit_ms,
                "compile_ms": r.compile_ms,
                "miss_to_compile": r.miss_ms / r.compile_ms,
                "warm_dir_miss_ms": r.warm_dir_miss_ms,
                "warm_dir_miss_to_compile": r.warm_dir_miss_ms / r.compile_ms,
                "speedup": r.speedup(),
                "fresh_process_hit_ms": r.fresh_process_hit_ms,
                "cli_hit_ms": r.cli_hit_ms,
                "hit_phases_us": r.hit_phases,
                "miss_phases_us": r.miss_phases,
            })
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "graph": "scale: x*y*k, 100 keys x 100 guard variants",
            "entries": scale.entries,
            "one_entry_hit_ms": scale.one_entry_hit_ms,
            "scale_hit_ms": scale.scale_hit_ms,
            "ratio": scale.scale_hit_ms / scale.one_entry_hit_ms,
            "populate_s": scale.populate_s,
        })
    );
}

fn print_table(results: &[CaseResult], scale: &ScaleResult) {
    println!(
        "{:<32} {:>10} {:>10} {:>13} {:>10} {:>9} {:>14} {:>12}",
        "graph",
        "compile ms",
        "miss ms",
        "warm-dir miss",
        "hit ms",
        "speedup",
        "fresh hit ms",
        "kiln run ms"
    );
    for r in results {
        let cli = r
            .cli_hit_ms
            .map_or("-".to_string(), |ms| format!("{ms:.2}"));
        println!(
            "{:<32} {:>10.3} {:>10.3} {:>13.3} {:>10.4} {:>8.0}x {:>14.3} {:>12}",
            r.graph,
            r.compile_ms,
            r.miss_ms,
            r.warm_dir_miss_ms,
            r.hit_ms,
            r.speedup(),
            r.fresh_process_hit_ms,
            cli
        );
        println!("    hit phases (µs): {}", r.hit_phases);
        println!("    miss phases (µs): {}", r.miss_phases);
    }
    println!(
        "\nhit on the last of 100 entries under a key, {} entries on disk: {:.4} ms; \
         with one entry: {:.4} ms; ratio {:.2} (populated in {:.1} s)",
        scale.entries,
        scale.scale_hit_ms,
        scale.one_entry_hit_ms,
        scale.scale_hit_ms / scale.one_entry_hit_ms,
        scale.populate_s
    );
}

/// `--hit-loop N [CASE]`: only `N` hits of one graph (`CASES[CASE]`, default 1: `x*y`)
/// after `reset()`, for a profiler.
fn hit_loop(n: usize, case: usize) -> BenchResult<()> {
    let case = CASES.get(case).ok_or("--hit-loop: no such graph")?;
    let dir = tempfile::tempdir()?;
    let f = compiler(dir.path(), case.policy).compile(&kiln::parse(case.src)?)?;
    timed_prepare(&f, &shapes(case), Outcome::Miss)?;
    let start = Instant::now();
    for _ in 0..n {
        f.reset();
        timed_prepare(&f, &shapes(case), Outcome::Hit)?;
    }
    println!("{:.1} µs per hit", elapsed_ms(start) * 1e3 / n as f64);
    Ok(())
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, graph, dir] = args.as_slice()
        && mode == "--child-hit"
    {
        return child_hit(graph, Path::new(dir));
    }
    if let [mode, count, rest @ ..] = args.as_slice()
        && mode == "--hit-loop"
    {
        let case = rest.first().map_or(Ok(1), |c| c.parse())?;
        return hit_loop(count.parse()?, case);
    }
    let json = args.iter().any(|a| a == "--json");
    let results = CASES
        .iter()
        .map(bench_case)
        .collect::<BenchResult<Vec<_>>>()?;
    let scale = bench_scale()?;
    if json {
        print_json(&results, &scale);
    } else {
        print_table(&results, &scale);
    }
    Ok(())
}
