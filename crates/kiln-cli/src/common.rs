//! What several subcommands share: loading a graph, shapes from `NAME=2x3`, compile options,
//! opening the cache, short human-readable numbers.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln::{
    Backend, Cache, CacheConfig, CompileOptions, CompiledFunction, Compiler, DType, DynamicPolicy,
    Graph, KilnError,
};
use kiln_ir::IrError;

use crate::cli::{BackendArg, CompileFlags, DynamicArg, SharedCompileArgs};
use crate::error::{CliError, CliResult};

/// A graph and the parameter values its file carries (an ONNX model's initializers; none for
/// `.kiln` text, whose parameters come from `--param`).
pub type LoadedModel = (Graph, Vec<(String, kiln::Tensor)>);

/// Loads a `.kiln` graph or, for a `.onnx` file, imports the model with its weights.
pub fn load_model(path: &Path) -> CliResult<LoadedModel> {
    if path.extension().is_some_and(|e| e == "onnx") {
        let m = kiln_onnx::load(path).map_err(|source| CliError::Onnx {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        return Ok((m.graph, m.params));
    }
    Ok((load_graph_text(path)?, Vec::new()))
}

/// [`load_model`] without the weights (compile and explain need only dtypes and shapes).
pub fn load_graph(path: &Path) -> CliResult<Graph> {
    load_model(path).map(|(g, _)| g)
}

/// Reads and parses a `.kiln` file; parse errors carry `file:line:col`.
fn load_graph_text(path: &Path) -> CliResult<Graph> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        what: "graph file",
        path: path.to_path_buf(),
        source,
    })?;
    kiln::parse(&text).map_err(|e| match e {
        IrError::Parse { line, col, msg } => CliError::Parse {
            path: path.to_path_buf(),
            line,
            col,
            msg,
        },
        other => CliError::Graph {
            path: path.to_path_buf(),
            source: Box::new(KilnError::Ir(other)),
        },
    })
}

/// Splits `NAME=VALUE`.
pub fn split_assignment<'a>(flag: &str, text: &'a str) -> CliResult<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name, value)),
        _ => Err(CliError::Usage(format!(
            "{flag} {text:?}: expected NAME=VALUE"
        ))),
    }
}

/// `2x3x4` (or `2,3,4`) as sizes; empty or `scalar` is a scalar.
pub fn parse_dims(name: &str, text: &str) -> CliResult<Vec<i64>> {
    let text = text.trim();
    if text.is_empty() || text == "scalar" {
        return Ok(Vec::new());
    }
    text.split(['x', 'X', ','])
        .enumerate()
        .map(|(dim, part)| {
            part.trim().parse::<i64>().ok().filter(|&v| v >= 0).ok_or_else(|| {
                CliError::Usage(format!(
                    "--shape {name}={text}: dim {dim} `{part}` is not a size (expected e.g. {name}=2x3x4)"
                ))
            })
        })
        .collect()
}

/// Orders `NAME=...` values by the graph's inputs; every input must appear exactly once.
pub fn by_input_order<T>(graph: &Graph, flag: &str, given: Vec<(String, T)>) -> CliResult<Vec<T>> {
    let declared: Vec<&str> = graph.inputs().iter().map(|d| d.name.as_str()).collect();
    by_order(graph, flag, "inputs", &declared, given)
}

/// Orders `NAME=...` values by `declared` (the graph's inputs of one `kind`: "inputs",
/// "data inputs", "parameters"); each must appear exactly once.
pub fn by_order<T>(
    graph: &Graph,
    flag: &str,
    kind: &str,
    declared: &[&str],
    given: Vec<(String, T)>,
) -> CliResult<Vec<T>> {
    let mut map: BTreeMap<String, T> = BTreeMap::new();
    let list = || match declared.is_empty() {
        true => "none".to_string(),
        false => declared.join(", "),
    };
    for (name, value) in given {
        if !declared.contains(&name.as_str()) {
            return Err(CliError::Usage(format!(
                "{flag} {name}=...: graph `{}` has no {} `{name}` (its {kind}: {})",
                graph.name,
                kind.trim_end_matches('s'),
                list()
            )));
        }
        if map.insert(name.clone(), value).is_some() {
            return Err(CliError::Usage(format!("{flag} {name}=... is given twice")));
        }
    }
    declared
        .iter()
        .map(|name| {
            map.remove(*name).ok_or_else(|| {
                CliError::Usage(format!(
                    "missing {flag} {name}=... (graph `{}` has {kind} {})",
                    graph.name,
                    list()
                ))
            })
        })
        .collect()
}

/// The shapes of `--shape NAME=DIMS` flags in input order, each checked by [`check_size`].
pub fn shapes_from_flags(graph: &Graph, flags: &[String]) -> CliResult<Vec<Vec<i64>>> {
    let given = flags
        .iter()
        .map(|f| {
            let (name, dims) = split_assignment("--shape", f)?;
            Ok((name.to_string(), parse_dims(name, dims)?))
        })
        .collect::<CliResult<Vec<_>>>()?;
    // A parameter's shape is declared: compiling needs no `--shape` (and no value) for it.
    let mut given = given;
    for p in graph.params() {
        if !given.iter().any(|(n, _)| *n == p.name) {
            let dims = p.fixed_shape().unwrap_or_default();
            given.push((p.name.clone(), dims.iter().map(|&d| d as i64).collect()));
        }
    }
    let shapes = by_input_order(graph, "--shape", given)?;
    check_sizes(graph, &shapes)?;
    Ok(shapes)
}

/// Every input's shape against [`check_size`], in input order.
pub fn check_sizes(graph: &Graph, shapes: &[Vec<i64>]) -> CliResult<()> {
    for (decl, dims) in graph.inputs().iter().zip(shapes) {
        check_size(&decl.name, decl.dtype, dims)?;
    }
    Ok(())
}

/// Refuses a shape whose elements could not be addressed: the product of its nonzero dims, in
/// bytes of `dtype`, must fit `isize::MAX` (the largest allocation there can be). Zero dims are
/// left out of the product because the compiler's size expressions multiply the other dims all
/// the same (an empty (0, 1e11, 1e11) input still forms 1e11 * 1e11); checking here, before any
/// policy specialises, makes every policy refuse the same shapes with the same message.
pub fn check_size(input: &str, dtype: DType, dims: &[i64]) -> CliResult<()> {
    let nonzero: Vec<u128> = dims
        .iter()
        .filter(|&&d| d != 0)
        .map(|&d| u128::from(d.unsigned_abs()))
        .collect();
    let limit = isize::MAX as u128 / dtype.size() as u128;
    let product = nonzero.iter().try_fold(1u128, |p, &d| p.checked_mul(d));
    if product.is_some_and(|p| p <= limit) {
        return Ok(());
    }
    let factors = nonzero
        .iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(" * ");
    Err(CliError::TooLarge {
        input: input.to_string(),
        shape: dims_text(dims),
        product: match product {
            Some(p) => format!("{factors} = {p}"),
            None => format!("{factors} > 2^128"),
        },
        dtype,
        limit,
    })
}

/// Graph-level errors (shape inference, scheduling) name the graph file, as parse errors do.
pub fn in_graph(path: &Path) -> impl Fn(KilnError) -> CliError + '_ {
    move |e| match e {
        KilnError::Ir(_) | KilnError::Sched(_) => CliError::Graph {
            path: path.to_path_buf(),
            source: Box::new(e),
        },
        other => CliError::from(other),
    }
}

pub fn backend(b: BackendArg) -> Backend {
    match b {
        BackendArg::Cpu => Backend::Cpu,
        BackendArg::Cuda => Backend::Cuda,
    }
}

pub fn policy(d: DynamicArg) -> DynamicPolicy {
    match d {
        DynamicArg::Static => DynamicPolicy::Static,
        DynamicArg::Dynamic => DynamicPolicy::Dynamic,
        DynamicArg::Auto => DynamicPolicy::Auto,
    }
}

/// Compile options from the flags; the cache is `--cache-dir`, else the environment's.
pub fn compile_options(
    flags: &CompileFlags,
    cache_dir: Option<&PathBuf>,
    no_cache: bool,
) -> CompileOptions {
    let mut opts = CompileOptions::default()
        .backend(backend(flags.backend))
        .dynamic(policy(flags.dynamic));
    if let Some(limit) = flags.index_limit {
        opts = opts.index_limit(limit);
    }
    match (no_cache, cache_dir) {
        (true, _) => opts.no_cache(),
        (false, Some(dir)) => opts.cache_dir(dir),
        (false, None) => opts,
    }
}

/// Compiles `graph` (read from `path`) as run and compile do: with the compile flags, and
/// through the cache unless `--no-cache`.
pub fn compile_with(
    path: &Path,
    graph: &Graph,
    flags: &CompileFlags,
    shared: &SharedCompileArgs,
) -> CliResult<CompiledFunction> {
    let opts = compile_options(flags, shared.cache.cache_dir.as_ref(), shared.no_cache);
    Compiler::new(opts).compile(graph).map_err(in_graph(path))
}

/// Opens the cache for administration: unlike a compile, an unusable cache is an error here.
pub fn open_cache(cache_dir: Option<&PathBuf>) -> CliResult<Cache> {
    let from_env = CacheConfig::from_env();
    let config = match cache_dir {
        Some(dir) => CacheConfig {
            dir: dir.clone(),
            ..from_env
        },
        None => from_env,
    };
    Ok(Cache::open(config)?)
}

/// `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The first 12 hex digits of a key or hash, for people.
pub fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// ` (key 0123456789ab…)` for a summary line, or nothing when the compile had no cache key.
pub fn key_note(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" (key {}…)", short(key))
    }
}

/// `[2, 16, 32, 32]` as `2x16x32x32` (a scalar is `scalar`).
pub fn dims_text<T: ToString>(dims: &[T]) -> String {
    if dims.is_empty() {
        return "scalar".into();
    }
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}
