//! `--grad NAME,...` (run and compile): the graph is replaced by its joint graph (forward,
//! then backward) for the gradient of the sum of all elements of its first output, as
//! `out.sum().backward()` gives in PyTorch; the joint graph's outputs are the forward's, then
//! `grad_<NAME>` per name, so `kiln run --out DIR` writes `DIR/grad_<NAME>.npy` beside them.
use std::path::Path;

use kiln::{GradError, GradSpec, Graph};

use crate::error::{CliError, CliResult};

/// `graph` itself when `names` is empty, else its joint graph for `names`.
pub fn joint(path: &Path, graph: Graph, names: &[String]) -> CliResult<Graph> {
    if names.is_empty() {
        return Ok(graph);
    }
    let wrt = checked_names(&graph, names)?;
    // Every graph has an output (the parser and ONNX importer refuse one without).
    let output = graph.output_names().first().map(|s| s.to_string());
    let output = output.ok_or_else(|| CliError::Usage("--grad: the graph has no output".into()))?;
    let spec = GradSpec::sum_of(&output, &wrt);
    kiln::grad(&graph, &spec).map_err(|source| CliError::Grad {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// The names, each once and each an input or parameter of `graph` (a usage error naming the
/// graph's inputs and parameters otherwise, as `--input` does).
fn checked_names<'a>(graph: &Graph, names: &'a [String]) -> CliResult<Vec<&'a str>> {
    let mut wrt: Vec<&str> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim();
        if name.is_empty() {
            return Err(CliError::Usage(
                "--grad: empty name (expected NAME,... of inputs or parameters)".into(),
            ));
        }
        if wrt.contains(&name) {
            return Err(CliError::Usage(format!("--grad {name} is given twice")));
        }
        if !graph.inputs().iter().any(|d| d.name == name) {
            let unknown = GradError::UnknownInput {
                name: name.to_string(),
                graph: graph.name.clone(),
            };
            return Err(CliError::Usage(format!(
                "--grad {name}: {unknown} (its inputs: {}; parameters: {})",
                list(graph.data_inputs().map(|d| d.name.as_str())),
                list(graph.params().map(|d| d.name.as_str())),
            )));
        }
        wrt.push(name);
    }
    Ok(wrt)
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// For `--grad ... --emit kernel-ir`: which values a forward/backward split of the joint graph
/// saves and which it recomputes ([`kiln::partition`] at these shapes), as comment lines above
/// the joint program's kernel IR (which fuses across the split and saves nothing).
pub fn split_note(
    path: &Path,
    graph: &Graph,
    names: &[String],
    shapes: &[Vec<i64>],
) -> CliResult<String> {
    let wrt = checked_names(graph, names)?;
    let output = graph.output_names().first().map(|s| s.to_string());
    let output = output.ok_or_else(|| CliError::Usage("--grad: the graph has no output".into()))?;
    let spec = GradSpec::sum_of(&output, &wrt);
    let p = kiln::partition(graph, &spec, shapes).map_err(|source| CliError::Grad {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let saved: Vec<String> = p
        .saved
        .iter()
        .map(|name| {
            let decl = p.backward.inputs().iter().find(|d| &d.name == name);
            let dims: Vec<String> =
                decl.map_or(vec![], |d| d.dims.iter().map(|x| x.to_string()).collect());
            format!("{name} [{}]", dims.join(", "))
        })
        .collect();
    Ok(format!(
        "# --grad {}: a forward/backward split (kiln::partition) saves {} and recomputes {}; \
         the joint program below runs both halves in one and saves nothing\n",
        wrt.join(","),
        if saved.is_empty() {
            "nothing".to_string()
        } else {
            saved.join(", ")
        },
        list(p.recomputed.iter().map(String::as_str)),
    ))
}
