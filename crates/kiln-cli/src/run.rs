//! `kiln run`: read .npy inputs, compile through the cache, run, write .npy outputs.
use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln::Tensor;
use kiln_ir::{Graph, InputDecl};
use serde_json::json;

use crate::cli::RunArgs;
use crate::common::{
    by_order, check_size, compile_with, in_graph, key_note, load_model, split_assignment,
};
use crate::error::{CliError, CliResult};
use crate::npy::{self, Conversion, Converted};

/// An input file that was converted to its declared dtype: reported once per run.
struct InputNote {
    /// `input` or `parameter`.
    role: &'static str,
    input: String,
    note: Converted,
}

pub fn run(args: RunArgs) -> CliResult<()> {
    let (graph, builtin) = load_model(&args.graph)?;
    let graph = crate::grad::joint(&args.graph, graph, &args.grad)?;
    let mode = if args.exact_inputs {
        Conversion::Exact
    } else {
        Conversion::Round
    };
    let (inputs, mut notes) = read_inputs(&graph, &args.inputs, mode)?;
    // An ONNX model carries its weights; a .kiln graph's come from --param/--params.
    let params = if builtin.is_empty() {
        let (params, param_notes) = read_params(&graph, &args, mode)?;
        notes.extend(param_notes);
        params
    } else {
        builtin
    };

    let f = compile_with(&args.graph, &graph, &args.flags, &args.shared)?;
    let shapes: Vec<Vec<i64>> = inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect();
    for (decl, dims) in graph.data_inputs().zip(&shapes) {
        check_size(&decl.name, decl.dtype, dims)?;
    }
    // Parameters are checked once, here; the call then checks only the data inputs.
    let model = f.bind(params).map_err(in_graph(&args.graph))?;
    let report = model.prepare(&shapes).map_err(in_graph(&args.graph))?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let t = Instant::now();
    let outputs = model.run(&refs).map_err(in_graph(&args.graph))?;
    let run_ms = t.elapsed().as_secs_f64() * 1e3;

    let names = graph.output_names();
    let written = match &args.out {
        Some(dir) => write_outputs(dir, &names, &outputs)?,
        None => Vec::new(),
    };

    let key = report.key.map(|k| k.to_string()).unwrap_or_default();
    if args.shared.json {
        let outs: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&outputs)
            .enumerate()
            .map(|(i, (name, t))| {
                let mut obj = json!({"dtype": t.dtype.name(), "shape": t.shape});
                if let Some(path) = written.get(i) {
                    obj["path"] = json!(path.display().to_string());
                }
                (name.to_string(), obj)
            })
            .collect();
        let converted: Vec<serde_json::Value> = notes
            .iter()
            .map(|n| {
                json!({
                    "input": n.input,
                    "role": n.role,
                    "from": n.note.from,
                    "to": n.note.to.name(),
                    "rounded": n.note.rounded,
                    "values": n.note.values,
                })
            })
            .collect();
        let obj = json!({
            "cache": report.outcome.name(),
            "key": key,
            "compile_ms": report.compile_ms,
            "run_ms": run_ms,
            "outputs": outs,
            "converted_inputs": converted,
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
    for n in &notes {
        println!("  {}", note_text(n));
    }
    for (i, (name, t)) in names.iter().zip(&outputs).enumerate() {
        let place = written
            .get(i)
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_else(|| format!(" {}", preview(t)));
        println!("  {name}: {}{:?}{place}", t.dtype, t.shape);
    }
    Ok(())
}

/// Reads the `--input NAME=FILE` files in data-input order, converted to the declared dtypes.
fn read_inputs(
    graph: &Graph,
    flags: &[String],
    mode: Conversion,
) -> CliResult<(Vec<Tensor>, Vec<InputNote>)> {
    let given = assignments("--input", flags)?;
    if let Some((name, _)) = given.iter().find(|(n, _)| is_param(graph, n)) {
        return Err(CliError::Usage(format!(
            "--input {name}=...: `{name}` is a parameter of graph `{}`: pass it with \
             --param {name}=FILE.npy or --params DIR",
            graph.name
        )));
    }
    let decls: Vec<&InputDecl> = graph.data_inputs().collect();
    let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
    let files = by_order(graph, "--input", "inputs", &names, given)?;
    read_files(&decls, &files, "input", mode)
}

fn is_param(graph: &Graph, name: &str) -> bool {
    graph.params().any(|p| p.name == name)
}

/// `NAME=FILE` flags as pairs.
fn assignments(flag: &str, flags: &[String]) -> CliResult<Vec<(String, PathBuf)>> {
    flags
        .iter()
        .map(|text| {
            let (name, file) = split_assignment(flag, text)?;
            Ok((name.to_string(), PathBuf::from(file)))
        })
        .collect()
}

/// Parameters by name, as [`kiln::CompiledFunction::bind`] takes them.
type NamedTensors = Vec<(String, Tensor)>;

/// The parameters from `--param NAME=FILE` and, for the others, `--params DIR/<NAME>.npy`,
/// by name (the model checks them against their declarations when they are bound).
fn read_params(
    graph: &Graph,
    args: &RunArgs,
    mode: Conversion,
) -> CliResult<(NamedTensors, Vec<InputNote>)> {
    let mut given = assignments("--param", &args.params)?;
    if let Some(dir) = &args.params_dir {
        for p in graph.params() {
            if !given.iter().any(|(n, _)| *n == p.name) {
                given.push((p.name.clone(), dir.join(format!("{}.npy", p.name))));
            }
        }
    }
    let decls: Vec<&InputDecl> = graph.params().collect();
    let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
    let files = by_order(graph, "--param", "parameters", &names, given)?;
    let (tensors, notes) = read_files(&decls, &files, "parameter", mode)?;
    let named = names.iter().map(|n| n.to_string()).zip(tensors).collect();
    Ok((named, notes))
}

/// Reads one .npy file per declaration, converted to its dtype.
fn read_files(
    decls: &[&InputDecl],
    files: &[PathBuf],
    role: &'static str,
    mode: Conversion,
) -> CliResult<(Vec<Tensor>, Vec<InputNote>)> {
    let mut tensors = Vec::with_capacity(files.len());
    let mut notes = Vec::new();
    for (decl, path) in decls.iter().zip(files) {
        let bytes = std::fs::read(path).map_err(|source| CliError::Read {
            what: if role == "input" {
                "input file"
            } else {
                "parameter file"
            },
            path: path.clone(),
            source,
        })?;
        let decoded =
            npy::decode_with(&bytes, decl.dtype, mode).map_err(|source| CliError::Npy {
                input: decl.name.clone(),
                path: path.clone(),
                source,
            })?;
        if let Some(note) = decoded.converted {
            notes.push(InputNote {
                role,
                input: decl.name.clone(),
                note,
            });
        }
        tensors.push(decoded.tensor);
    }
    Ok((tensors, notes))
}

/// `input x: float64 file read as f32 ...`, one line per converted input.
fn note_text(n: &InputNote) -> String {
    let how = if n.note.rounded == 0 {
        "every value exact".to_string()
    } else {
        format!(
            "{} of {} values rounded to nearest even, as astype does; --exact-inputs refuses \
             inexact values",
            n.note.rounded, n.note.values
        )
    };
    format!(
        "{} {}: {} file read as {} ({how})",
        n.role, n.input, n.note.from, n.note.to
    )
}

/// Writes each output to `dir/<name>.npy`; returns the paths in output order.
fn write_outputs(dir: &Path, names: &[&str], outputs: &[Tensor]) -> CliResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(outputs.len());
    for (name, t) in names.iter().zip(outputs) {
        let path = dir.join(format!("{name}.npy"));
        npy::write(&path, t).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
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
