//! `kiln run`: read .npy inputs, compile through the cache, run, write .npy outputs.
use std::path::PathBuf;
use std::time::Instant;

use kiln::Tensor;
use serde_json::json;

use crate::cli::RunArgs;
use crate::common::{by_input_order, compile_with, key_note, load_graph, split_assignment};
use crate::error::{CliError, CliResult};
use crate::npy;

pub fn run(args: RunArgs) -> CliResult<()> {
    let graph = load_graph(&args.graph)?;
    let given = args
        .inputs
        .iter()
        .map(|text| {
            let (name, file) = split_assignment("--input", text)?;
            Ok((name.to_string(), PathBuf::from(file)))
        })
        .collect::<CliResult<Vec<_>>>()?;
    let files = by_input_order(&graph, "--input", given)?;
    let inputs: Vec<Tensor> = graph
        .inputs()
        .iter()
        .zip(&files)
        .map(|(decl, path)| {
            let bytes = std::fs::read(path).map_err(|source| CliError::Read {
                what: "input file",
                path: path.clone(),
                source,
            })?;
            npy::decode(&bytes, decl.dtype).map_err(|source| CliError::Npy {
                input: decl.name.clone(),
                path: path.clone(),
                source,
            })
        })
        .collect::<CliResult<_>>()?;

    let f = compile_with(&graph, &args.flags, &args.shared)?;
    let shapes: Vec<Vec<i64>> = inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect();
    let report = f.prepare(&shapes)?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let t = Instant::now();
    let outputs = f.run(&refs)?;
    let run_ms = t.elapsed().as_secs_f64() * 1e3;

    let names = graph.output_names();
    let mut written = Vec::new();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
            path: dir.clone(),
            source,
        })?;
        for (name, t) in names.iter().zip(&outputs) {
            let path = dir.join(format!("{name}.npy"));
            npy::write(&path, t).map_err(|source| CliError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }

    let key = report.key.map(|k| k.to_string()).unwrap_or_default();
    if args.shared.json {
        let outs: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&outputs)
            .map(|(name, t)| {
                (
                    name.to_string(),
                    json!({"dtype": t.dtype.name(), "shape": t.shape}),
                )
            })
            .collect();
        let obj = json!({
            "cache": report.outcome.name(),
            "key": key,
            "compile_ms": report.compile_ms,
            "run_ms": run_ms,
            "outputs": outs,
        });
        println!("{obj}");
        return Ok(());
    }
    let why = match &report.outcome {
        kiln::Outcome::Bypass(reason) => format!(" ({reason})"),
        _ => String::new(),
    };
    println!(
        "graph `{}`: cache {}{why}{} in {:.2} ms, run {:.3} ms",
        graph.name,
        report.outcome.name(),
        key_note(&key),
        report.compile_ms,
        run_ms
    );
    for (i, (name, t)) in names.iter().zip(&outputs).enumerate() {
        let place = written
            .get(i)
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_else(|| format!(" {}", preview(t)));
        println!("  {name}: {}{:?}{place}", t.dtype, t.shape);
    }
    Ok(())
}

/// The first few values, when outputs are not written to files.
fn preview(t: &Tensor) -> String {
    let values = t.to_f64();
    let head: Vec<String> = values.iter().take(6).map(|v| format!("{v:.4}")).collect();
    let more = if values.len() > head.len() {
        ", …"
    } else {
        ""
    };
    format!("= [{}{more}]", head.join(", "))
}
