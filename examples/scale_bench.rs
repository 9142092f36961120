//! How compile time, key hashing, hit time and entry size grow with the graph: generated graphs
//! of 10, 100, 1,000 and 10,000 nodes in three shapes (an elementwise chain, a wide fan-out
//! from one input merged back by a chain of adds, and a deep stack of row reductions, each
//! `y - amax(y, dim=1)`, which materialises one kernel per layer).
//!
//! `cargo run --release --example scale_bench -- [--json] [--max N] [--all]`
//!
//! Per graph: `parse_ms` (the `.kiln` text), `hash_ms` (`Compiler::compile`: validation and
//! the graph's canonical hash), `compile_ms` (no cache: bind, key, schedule, codegen), `miss_ms`
//! (through a fresh cache: compile plus store), `hit_ms` (after `reset()`, with its phases),
//! and the entry's size. The `fit/...` rows give the exponent `b` of `ms = a * nodes^b`
//! fitted (least squares on logs) over the sizes: 1 is linear; and
//! `hit_beyond_artifact_ratio`: the most any size's hit spends beyond reading, verifying and
//! loading its artifact (`hit_beyond_artifact_us`), over the smallest graph's whole hit.
use std::time::Instant;

use kiln::{CompileOptions, Compiler, DynamicPolicy, Outcome};
use serde_json::json;

const SIZES: [usize; 4] = [10, 100, 1000, 10_000];

/// A `.kiln` graph of about `n` nodes in the given family.
fn generate(family: &str, n: usize) -> String {
    let mut s = format!("graph {family}{n}\ninput x: f32[N, D]\n");
    match family {
        "chain" => {
            let mut prev = "x".to_string();
            for i in 0..n {
                let op = match i % 4 {
                    0 => format!("mul({prev}, 1.0001)"),
                    1 => format!("add({prev}, 0.5)"),
                    2 => format!("maximum({prev}, -4.0)"),
                    _ => format!("sub({prev}, 0.25)"),
                };
                s += &format!("c{i} = {op}\n");
                prev = format!("c{i}");
            }
            s += &format!("output {prev}\n");
        }
        "fanout" => {
            // n/2 branches of x, then n/2 adds folding them back into one output.
            let branches = (n / 2).max(1);
            for i in 0..branches {
                s += &format!("b{i} = mul(x, {}.5)\n", i % 7);
            }
            let mut acc = "b0".to_string();
            for i in 1..branches {
                s += &format!("s{i} = add({acc}, b{i})\n");
                acc = format!("s{i}");
            }
            s += &format!("output {acc}\n");
        }
        "reduce" => {
            // Two nodes a layer: m = amax(y, 1, keepdim), y' = y - m.
            let mut prev = "x".to_string();
            for i in 0..(n / 2).max(1) {
                s += &format!(
                    "m{i} = amax({prev}, dim=1, keepdim=true)\ny{i} = sub({prev}, m{i})\n"
                );
                prev = format!("y{i}");
            }
            s += &format!("output {prev}\n");
        }
        other => unreachable!("unknown family {other}"),
    }
    s
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Repetitions: more for small graphs, at least 3.
fn reps(n: usize) -> usize {
    (3000 / n).clamp(3, 50)
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn bench(family: &str, n: usize) -> BenchResult<serde_json::Value> {
    let src = generate(family, n);
    let shapes = vec![vec![4i64, 8]];
    let reps = reps(n);
    let mut parse = Vec::new();
    let mut graph = None;
    for _ in 0..reps {
        let t = Instant::now();
        graph = Some(kiln::parse(&src)?);
        parse.push(ms(t));
    }
    let graph = graph.expect("at least one rep");
    let nodes = graph.len();

    let uncached = Compiler::new(
        CompileOptions::default()
            .no_cache()
            .dynamic(DynamicPolicy::Dynamic),
    );
    let (mut hash, mut compile) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        let f = uncached.compile(&graph)?;
        hash.push(ms(t));
        let t = Instant::now();
        f.prepare(&shapes)?;
        compile.push(ms(t));
    }

    let mut misses = Vec::new();
    let mut hit_f = None;
    let mut warm_dir = None;
    for _ in 0..reps.min(5) {
        let dir = tempfile::tempdir()?;
        let c = Compiler::new(
            CompileOptions::default()
                .cache_dir(dir.path())
                .dynamic(DynamicPolicy::Dynamic),
        );
        let f = c.compile(&graph)?;
        let t = Instant::now();
        let r = f.prepare(&shapes)?;
        misses.push(ms(t));
        if r.outcome != Outcome::Miss {
            return Err(format!("expected a miss, got {:?}", r.outcome).into());
        }
        hit_f = Some((c, f));
        warm_dir = Some(dir);
    }
    let (c, f) = hit_f.expect("at least one miss");
    let entry_bytes: u64 = c
        .cache()
        .ok_or("no cache")?
        .list()?
        .iter()
        .map(|e| e.size)
        .sum();
    let (mut hits, mut load, mut key, mut read) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rest = Vec::new();
    for _ in 0..reps.max(20) {
        f.reset();
        let t = Instant::now();
        let r = f.prepare(&shapes)?;
        hits.push(ms(t));
        if r.outcome != Outcome::Hit {
            return Err(format!("expected a hit, got {:?}", r.outcome).into());
        }
        load.push(r.phases.load_us);
        key.push(r.phases.key_us);
        read.push(r.phases.read_us);
        // What the hit spends beyond reading, verifying and loading the artifact.
        rest.push(hits[hits.len() - 1] * 1e3 - r.phases.read_us - r.phases.load_us);
    }
    drop(warm_dir);
    Ok(json!({
        "case": format!("{family}/{n}"), "family": family, "nodes": nodes,
        "kernels": f.executable(&shapes)?.program().kernels.len(),
        "parse_ms": median(parse), "hash_ms": median(hash), "compile_ms": median(compile),
        "miss_ms": median(misses), "hit_ms": median(hits), "hit_key_us": median(key),
        "hit_read_us": median(read), "hit_load_us": median(load),
        "hit_beyond_artifact_us": median(rest), "entry_bytes": entry_bytes,
    }))
}

/// Least-squares slope of log(y) on log(x).
fn exponent(points: &[(f64, f64)]) -> f64 {
    let logs: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x.ln(), y.ln())).collect();
    let k = logs.len() as f64;
    let (mx, my) = (
        logs.iter().map(|p| p.0).sum::<f64>() / k,
        logs.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let cov: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    cov / var
}

fn emit(json_out: bool, row: &serde_json::Value) {
    if json_out {
        println!("{row}");
    } else if row["case"].as_str().is_some_and(|c| c.starts_with("fit/")) {
        println!(
            "{:<16} exponents: parse {:.2}  hash {:.2}  compile {:.2}  miss {:.2}  hit {:.2}  entry {:.2}; hit beyond the artifact at most {:.2}x the smallest graph's hit",
            row["case"].as_str().unwrap_or(""),
            row["parse_ms"].as_f64().unwrap_or(f64::NAN),
            row["hash_ms"].as_f64().unwrap_or(f64::NAN),
            row["compile_ms"].as_f64().unwrap_or(f64::NAN),
            row["miss_ms"].as_f64().unwrap_or(f64::NAN),
            row["hit_ms"].as_f64().unwrap_or(f64::NAN),
            row["entry_bytes"].as_f64().unwrap_or(f64::NAN),
            row["hit_beyond_artifact_ratio"]
                .as_f64()
                .unwrap_or(f64::NAN),
        );
    } else {
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<16} {:>6} nodes {:>5} kernels  parse {:>8.3}  hash {:>8.3}  compile {:>9.3}  miss {:>9.3}  hit {:>7.3} ms (read {:.0} + load {:.0} + rest {:.0} µs)  entry {:>9} B",
            row["case"].as_str().unwrap_or(""),
            f("nodes"),
            f("kernels"),
            f("parse_ms"),
            f("hash_ms"),
            f("compile_ms"),
            f("miss_ms"),
            f("hit_ms"),
            f("hit_read_us"),
            f("hit_load_us"),
            f("hit_beyond_artifact_us"),
            f("entry_bytes"),
        );
    }
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let all = args.iter().any(|a| a == "--all");
    let max: usize = match args.iter().position(|a| a == "--max") {
        Some(i) => args.get(i + 1).ok_or("--max needs a number")?.parse()?,
        None => usize::MAX,
    };
    for family in ["chain", "fanout", "reduce"] {
        let mut rows = Vec::new();
        // The reduction stack is 5,000 kernels at 10,000 nodes: since kiln-sched materialises
        // the shared prefix (lower/reuse.rs) it compiles in about 20 s there (it was quadratic:
        // 21 s and a 29 MB entry at 1,000 nodes), still the slowest row, so only with `--all`.
        let cap = if family == "reduce" && !all {
            1000
        } else {
            max
        };
        for n in SIZES.into_iter().filter(|&n| n <= max.min(cap)) {
            let row = bench(family, n)?;
            emit(json_out, &row);
            rows.push(row);
        }
        if rows.len() < 2 {
            continue;
        }
        let mut fit = serde_json::Map::new();
        fit.insert("case".into(), json!(format!("fit/{family}")));
        for k in [
            "parse_ms",
            "hash_ms",
            "compile_ms",
            "miss_ms",
            "hit_ms",
            "entry_bytes",
        ] {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .map(|r| {
                    (
                        r["nodes"].as_f64().unwrap_or(1.0),
                        r[k].as_f64().unwrap_or(1.0),
                    )
                })
                .collect();
            fit.insert(k.into(), json!(exponent(&pts)));
        }
        // Issue 20's bound: a hit costs at most 2x the smallest graph's hit plus the artifact's
        // read, verification and load.
        let smallest_hit_us = rows[0]["hit_ms"].as_f64().unwrap_or(f64::NAN) * 1e3;
        let worst = rows
            .iter()
            .map(|r| r["hit_beyond_artifact_us"].as_f64().unwrap_or(f64::NAN))
            .fold(0.0, f64::max);
        fit.insert(
            "hit_beyond_artifact_ratio".into(),
            json!(worst / smallest_hit_us),
        );
        emit(json_out, &serde_json::Value::Object(fit));
    }
    Ok(())
}
