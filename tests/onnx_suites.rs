//! ONNX's own test models, run as shipped by the `onnx` Python package
//! (`onnx/backend/test/data/{light,pytorch-converted,pytorch-operator,simple}`): each model is
//! imported, compiled on the CPU, given its recorded inputs and compared with its recorded
//! outputs. Prints a table (folder: passed / failed / unsupported, with the op names kiln
//! lacks) and fails if a model listed in `tests/onnx_passing.txt` no longer passes, or if any
//! model panics. Light models ship no inputs: `scripts/onnx_light_inputs.py` writes them with
//! onnx's own generator (`.ci/run` runs it first); without them the light folder is skipped.
#[path = "skip_support/mod.rs"]
mod skip_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::{CompileOptions, Compiler, Tensor};

const FOLDERS: [&str; 4] = ["light", "pytorch-converted", "pytorch-operator", "simple"];

fn data_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("KILN_ONNX_DATA") {
        return Some(PathBuf::from(d));
    }
    let out = Command::new("python3")
        .args(["-c", "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data'))"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && dir.is_dir()).then_some(dir)
}

/// Where `scripts/onnx_light_inputs.py` writes the light models' inputs.
fn light_inputs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("onnx-light-inputs")
}

enum Outcome {
    Passed,
    Failed(String),
    Unsupported(Vec<String>),
}

fn close(found: &Tensor, expected: &Tensor) -> Result<(), String> {
    if found.shape != expected.shape {
        return Err(format!(
            "shape {:?}, expected {:?}",
            found.shape, expected.shape
        ));
    }
    let (f, e) = (found.to_f64(), expected.to_f64());
    for (i, (a, b)) in f.iter().zip(&e).enumerate() {
        let ok = (a - b).abs() <= 1e-3 + 1e-3 * b.abs() || (a.is_nan() && b.is_nan());
        if !ok {
            return Err(format!("element {i}: {a}, expected {b}"));
        }
    }
    Ok(())
}

fn pb_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..)
        .map(|i| dir.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .collect()
}

fn run_case(model: &Path, inputs: &[PathBuf], outputs: &[PathBuf]) -> Outcome {
    let m = match kiln_onnx::load(model) {
        Ok(m) => m,
        Err(kiln_onnx::OnnxError::Unsupported { nodes }) => {
            let mut ops: Vec<String> = nodes.into_iter().map(|(_, op)| op).collect();
            ops.sort();
            ops.dedup();
            return Outcome::Unsupported(ops);
        }
        Err(e) => return Outcome::Failed(format!("import: {e}")),
    };
    let load = |p: &PathBuf| kiln_onnx::load_tensor(p).map_err(|e| e.to_string());
    let ins: Result<Vec<Tensor>, String> = inputs.iter().map(load).collect();
    let outs: Result<Vec<Tensor>, String> = outputs.iter().map(load).collect();
    let (ins, outs) = match (ins, outs) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => return Outcome::Failed(format!("test data: {e}")),
    };
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let result = compiler
        .compile(&m.graph)
        .and_then(|f| f.bind(m.params))
        .and_then(|model| model.run(&ins.iter().collect::<Vec<_>>()));
    match result {
        Err(e) => Outcome::Failed(e.to_string()),
        Ok(found) if found.len() != outs.len() => {
            Outcome::Failed(format!("{} outputs, expected {}", found.len(), outs.len()))
        }
        Ok(found) => match found.iter().zip(&outs).try_for_each(|(f, e)| close(f, e)) {
            Ok(()) => Outcome::Passed,
            Err(e) => Outcome::Failed(e),
        },
    }
}

/// `(case name, model path, inputs, outputs)` of every model in `folder`.
fn cases(data: &Path, folder: &str) -> Vec<(String, PathBuf, Vec<PathBuf>, Vec<PathBuf>)> {
    let dir = data.join(folder);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for p in names {
        if folder == "light" {
            if p.extension().is_some_and(|e| e == "onnx") {
                let stem = p.file_stem().unwrap().to_string_lossy().to_string();
                let inputs = pb_files(&light_inputs_dir().join(&stem), "input");
                let outputs = pb_files(&dir, &format!("{stem}_output"));
                out.push((format!("{folder}/{stem}"), p.clone(), inputs, outputs));
            }
        } else if p.join("model.onnx").exists() {
            let set = p.join("test_data_set_0");
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            out.push((
                format!("{folder}/{name}"),
                p.join("model.onnx"),
                pb_files(&set, "input"),
                pb_files(&set, "output"),
            ));
        }
    }
    out
}

#[test]
fn onnx_test_suites() {
    let Some(data) = data_dir() else {
        skip_support::skip("the onnx Python package is not installed (pip install onnx)");
        return;
    };
    let must_pass: Vec<String> = include_str!("onnx_passing.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let mut table: BTreeMap<&str, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    let mut regressions = Vec::new();
    let mut passing = Vec::new();
    for folder in FOLDERS {
        let entry = table.entry(folder).or_default();
        for (name, model, inputs, outputs) in cases(&data, folder) {
            if folder == "light" && inputs.is_empty() {
                continue;
            }
            let outcome = std::panic::catch_unwind(|| run_case(&model, &inputs, &outputs))
                .unwrap_or_else(|_| Outcome::Failed("PANICKED".into()));
            match outcome {
                Outcome::Passed => {
                    entry.0 += 1;
                    passing.push(name.clone());
                }
                Outcome::Failed(why) => {
                    entry.1 += 1;
                    eprintln!("onnx: {name}: failed: {why}");
                    if why == "PANICKED" || must_pass.contains(&name) {
                        regressions.push(format!("{name}: {why}"));
                    }
                }
                Outcome::Unsupported(ops) => {
                    for op in ops {
                        *entry.2.entry(op).or_default() += 1;
                    }
                    if must_pass.contains(&name) {
                        regressions.push(format!("{name}: now unsupported"));
                    }
                }
            }
        }
    }
    eprintln!("onnx test suites (passed / failed / unsupported ops with the models needing them):");
    for (folder, (p, f, ops)) in &table {
        let ops: Vec<String> = ops.iter().map(|(o, n)| format!("{o} ({n})")).collect();
        eprintln!(
            "  {folder}: {p} passed, {f} failed; unsupported: {}",
            ops.join(", ")
        );
    }
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("onnx-passing.txt");
    let _ = std::fs::write(&record, passing.join("\n") + "\n");
    eprintln!("  (passing cases written to {})", record.display());
    assert!(
        regressions.is_empty(),
        "regressions:\n{}",
        regressions.join("\n")
    );
}
