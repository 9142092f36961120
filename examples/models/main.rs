//! Real models through kiln: a small CNN (conv-bn-relu-pool-linear), a transformer block
//! (layer_norm, 4-head attention with matmul + softmax, a gelu MLP) and ResNet-18, built as
//! `.kiln` text with random weights bound as parameters. Each is checked against the
//! reference interpreter, and the example prints compile (cache miss), in-process hit and run
//! times; `--resnet-hit` times a fresh process's hit on ResNet-18 (the example reruns itself).
//!
//! `cargo run --release --example models [-- --json]`
mod text;

#[path = "../common/mod.rs"]
mod common;

use std::time::Instant;

use common::{data, max_abs_diff};
use kiln::{CompileOptions, Compiler, DType, Tensor};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Random weights for every parameter (batch-norm variances positive).
fn weights(params: &[(String, Vec<usize>)]) -> Vec<(String, Tensor)> {
    params
        .iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
            let scale = (1.0 / fan_in as f64).sqrt();
            let mut t = data(DType::F32, shape, 100 + i as u64, scale);
            if name.starts_with("var") {
                let v: Vec<f32> = t.to_f32().iter().map(|x| x.abs() + 0.5).collect();
                t = Tensor::from_f32(shape, &v);
            }
            (name.clone(), t)
        })
        .collect()
}

struct Row {
    name: &'static str,
    miss_ms: f64,
    hit_ms: f64,
    run_ms: f64,
    max_err: f64,
}

fn run_model(
    name: &'static str,
    (src, params): (String, Vec<(String, Vec<usize>)>),
    x: Tensor,
    dir: &std::path::Path,
    check: bool,
) -> Result<Row, Box<dyn std::error::Error>> {
    let graph = kiln::parse(&src)?;
    let w = weights(&params);
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir));
    let (w1, w2) = (w.clone(), w.clone());
    let t = Instant::now();
    let model = compiler.compile(&graph)?.bind(w1)?;
    let report = model.prepare(&[x.shape.iter().map(|&d| d as i64).collect()])?;
    let miss_ms = ms(t);
    let t = Instant::now();
    let out = model.run(&[&x])?;
    let run_ms = ms(t);
    // A fresh compiler: the disk cache serves the same code.
    let again = Compiler::new(CompileOptions::default().cache_dir(dir));
    let t = Instant::now();
    let model2 = again.compile(&graph)?.bind(w2)?;
    let hit = model2.prepare(&[x.shape.iter().map(|&d| d as i64).collect()])?;
    let hit_ms = ms(t);
    assert_eq!(
        hit.outcome,
        kiln::Outcome::Hit,
        "{name}: the second compile must hit"
    );
    assert_eq!(
        report.outcome.name(),
        "miss",
        "{name}: a fresh cache must miss"
    );
    let max_err = if check {
        // The interpreter takes every input, parameters included, in declaration order.
        let mut all = Vec::new();
        for decl in graph.inputs() {
            match w.iter().find(|(n, _)| *n == decl.name) {
                Some((_, t)) => all.push(t.clone()),
                None => all.push(x.clone()),
            }
        }
        let reference = kiln_ir::interpret(&graph, &all)?;
        max_abs_diff(&out[0], &reference[0])
    } else {
        f64::NAN
    };
    Ok(Row {
        name,
        miss_ms,
        hit_ms,
        run_ms,
        max_err,
    })
}

fn fresh_process_hit(dir: &std::path::Path) -> Result<f64, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .arg("--resnet-hit")
        .env("KILN_CACHE_DIR", dir)
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text.trim().parse::<f64>()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    if std::env::args().any(|a| a == "--resnet-hit") {
        let dir = std::env::var("KILN_CACHE_DIR")?;
        let (src, params) = text::resnet18();
        let w = weights(&params); // the weights a service would have loaded anyway
        let t = Instant::now();
        let graph = kiln::parse(&src)?;
        let model = Compiler::new(CompileOptions::default().cache_dir(&dir))
            .compile(&graph)?
            .bind(w)?;
        let r = model.prepare(&[vec![1, 3, 224, 224]])?;
        assert_eq!(r.outcome, kiln::Outcome::Hit);
        println!("{}", ms(t));
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let rows = vec![
        run_model(
            "small_cnn_b8",
            text::small_cnn(),
            data(DType::F32, &[8, 3, 32, 32], 1, 1.0),
            dir.path(),
            true,
        )?,
        run_model(
            "transformer_block_b2_t16",
            text::transformer_block(),
            data(DType::F32, &[2, 16, 64], 2, 1.0),
            dir.path(),
            true,
        )?,
        run_model(
            "resnet18_b1",
            text::resnet18(),
            data(DType::F32, &[1, 3, 224, 224], 3, 1.0),
            dir.path(),
            false,
        )?,
    ];
    let fresh = fresh_process_hit(dir.path())?;
    for r in &rows {
        if json {
            println!(
                "{{\"case\": \"{}\", \"miss_ms\": {:.3}, \"hit_ms\": {:.3}, \"run_ms\": {:.3}, \"max_abs_err\": {}}}",
                r.name,
                r.miss_ms,
                r.hit_ms,
                r.run_ms,
                if r.max_err.is_nan() {
                    "null".to_string()
                } else {
                    format!("{:.3e}", r.max_err)
                }
            );
        } else {
            println!(
                "{:<26} compile (miss) {:>8.2} ms   hit {:>7.3} ms   run {:>8.2} ms   max |kiln - interpreter| {}",
                r.name,
                r.miss_ms,
                r.hit_ms,
                r.run_ms,
                if r.max_err.is_nan() {
                    "(not checked: large)".to_string()
                } else {
                    format!("{:.2e}", r.max_err)
                }
            );
        }
        if !r.max_err.is_nan() {
            assert!(
                r.max_err < 1e-3,
                "{} disagrees with the interpreter by {}",
                r.name,
                r.max_err
            );
        }
    }
    if json {
        println!("{{\"case\": \"resnet18_b1_fresh_process_hit\", \"hit_ms\": {fresh:.3}}}");
    } else {
        println!(
            "resnet18_b1: a fresh process's hit (parse, bind, load from the cache) {fresh:.2} ms"
        );
    }
    Ok(())
}
