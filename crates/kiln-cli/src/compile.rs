//! `kiln compile`: compile for shapes without data (fills the cache), optionally print the
//! kernel IR, Cranelift IR, CUDA C or PTX of what was generated.
use kiln::{Compiler, Emit, EmitOptions, KilnError};
use serde_json::json;

use crate::cli::{CompileArgs, EmitArg};
use crate::common::{
    compile_options, dims_text, in_graph, key_note, load_graph, shapes_from_flags,
};
use crate::error::{CliError, CliResult};

pub fn compile(args: CompileArgs) -> CliResult<()> {
    let forward = load_graph(&args.graph)?;
    let graph = crate::grad::joint(&args.graph, forward.clone(), &args.grad)?;
    let shapes = shapes_from_flags(&graph, &args.shapes)?;
    let opts = compile_options(
        &args.flags,
        args.shared.cache.cache_dir.as_ref(),
        args.shared.no_cache,
    );
    let compiler = Compiler::new(opts);
    let f = compiler.compile(&graph).map_err(in_graph(&args.graph))?;
    // Emission needs no device (CUDA C nothing, PTX only NVRTC): without one, the code is still
    // printed and the summary says why nothing went into the cache.
    let report = match (f.prepare(&shapes), args.emit) {
        (Ok(report), _) => Ok(report),
        (Err(e @ KilnError::BackendUnavailable { .. }), Some(_)) => Err(e.to_string()),
        (Err(e), _) => return Err(in_graph(&args.graph)(e)),
    };
    let emitted = match args.emit {
        None => None,
        Some(what) => {
            let code = emit(&compiler, &graph, &shapes, what, &args)?;
            if what == EmitArg::KernelIr && !args.grad.is_empty() {
                let note = crate::grad::split_note(&args.graph, &forward, &args.grad, &shapes)?;
                Some(note + &code)
            } else {
                Some(code)
            }
        }
    };
    let report = match report {
        Ok(report) => report,
        Err(reason) => return skipped(&graph.name, &reason, emitted, args.shared.json),
    };
    let key = report.key.map(|k| k.to_string()).unwrap_or_default();
    if args.shared.json {
        let mut obj = json!({
            "cache": report.outcome.name(),
            "key": key,
            "compile_ms": report.compile_ms,
            "guards": report.guards,
            "components": report.components,
        });
        if let Some(code) = &emitted {
            obj["emit"] = json!(code);
        }
        println!("{obj}");
        return Ok(());
    }
    if let Some(code) = emitted {
        // The code alone on stdout, so that it can be piped; the summary goes to stderr.
        print!("{code}");
        if !code.ends_with('\n') {
            println!();
        }
    }
    let shapes_text: Vec<String> = graph
        .inputs()
        .iter()
        .zip(&shapes)
        .map(|(d, s)| format!("{}={}", d.name, dims_text(s)))
        .collect();
    let summary = format!(
        "graph `{}` for {}: cache {}{} in {:.2} ms\n  guards: {}",
        graph.name,
        shapes_text.join(" "),
        report.outcome.name(),
        key_note(&key),
        report.compile_ms,
        if report.guards.is_empty() {
            "(none)"
        } else {
            &report.guards
        }
    );
    if args.emit.is_some() {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// The emitted code when the backend could not compile for the cache: code on stdout, the
/// reason on stderr (or both in one JSON object).
fn skipped(graph: &str, reason: &str, code: Option<String>, json: bool) -> CliResult<()> {
    let code = code.unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({ "cache": "unavailable", "reason": reason, "emit": code })
        );
        return Ok(());
    }
    print!("{code}");
    if !code.ends_with('\n') {
        println!();
    }
    eprintln!("graph `{graph}`: emitted only, nothing compiled into the cache: {reason}");
    Ok(())
}

/// The text of one `--emit` kind, scheduled for `shapes` as the compile was, from the backend
/// that emits it (through the facade: the CLI knows no backend crate).
fn emit(
    compiler: &Compiler,
    graph: &kiln::Graph,
    shapes: &[Vec<i64>],
    what: EmitArg,
    args: &CompileArgs,
) -> CliResult<String> {
    let what = match what {
        EmitArg::KernelIr => Emit::KernelIr,
        EmitArg::Clif => Emit::Clif,
        EmitArg::Cuda => Emit::CudaC,
        EmitArg::Ptx => Emit::Ptx,
    };
    let program = compiler
        .schedule(graph, shapes)
        .map_err(in_graph(&args.graph))?;
    let arch = &args.arch;
    let opts = EmitOptions {
        arch: Some(arch.clone()),
    };
    kiln::emit(&program, what, &opts).map_err(|e| match e {
        KilnError::InvalidArch { .. } => CliError::Usage(format!("--arch {arch}: {e}")),
        rejected @ KilnError::NvrtcRejected { .. } => nvrtc_rejection(rejected, args.verbose),
        other => other.into(),
    })
}

/// NVRTC's rejection as one line; its log and the numbered source are written to a file the
/// line names (`--verbose` prints them instead).
fn nvrtc_rejection(e: KilnError, verbose: bool) -> CliError {
    let head = e.to_string();
    let KilnError::NvrtcRejected { details, .. } = e else {
        return CliError::from(e);
    };
    if verbose {
        return CliError::Backend(format!("{head}\n{details}"));
    }
    let saved = tempfile::Builder::new()
        .prefix("kiln-nvrtc-")
        .suffix(".log")
        .tempfile()
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, details.as_bytes())?;
            f.keep().map_err(|e| e.error)
        });
    match saved {
        Ok((_, path)) => CliError::Backend(format!(
            "{head} (log and source in {}; --verbose prints them)",
            path.display()
        )),
        Err(_) => CliError::Backend(format!("{head} (--verbose prints the log and source)")),
    }
}
