//! `kiln compile`: compile for shapes without data (fills the cache), optionally print the
//! kernel IR, Cranelift IR, CUDA C or PTX of what was generated.
use kiln_sched::Program;
use serde_json::json;

use crate::cli::{CompileArgs, EmitArg};
use crate::common::{compile_with, dims_text, key_note, load_graph, shapes_from_flags};
use crate::error::{CliError, CliResult};

pub fn compile(args: CompileArgs) -> CliResult<()> {
    let graph = load_graph(&args.graph)?;
    let shapes = shapes_from_flags(&graph, &args.shapes)?;
    let f = compile_with(&graph, &args.flags, &args.shared)?;
    let report = f.prepare(&shapes)?;
    let emitted = match args.emit {
        None => None,
        Some(what) => {
            let exec = f.executable(&shapes)?;
            Some(emit(exec.program(), what, &args.arch)?)
        }
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

/// The text of one `--emit` kind for `program`.
pub fn emit(program: &Program, what: EmitArg, arch: &str) -> CliResult<String> {
    match what {
        EmitArg::KernelIr => Ok(program.to_string()),
        EmitArg::Clif => Ok(kiln_cpu::emit_clif(program)),
        EmitArg::Cuda => kiln_cuda::generate(program)
            .map(|src| src.code)
            .map_err(|e| CliError::Backend(format!("CUDA code generation: {e}"))),
        EmitArg::Ptx => {
            let arch = kiln_cuda::Arch::parse(arch)
                .map_err(|e| CliError::Usage(format!("--arch {arch}: {e}")))?;
            if !kiln_cuda::nvrtc_available() {
                return Err(CliError::Backend(
                    "--emit ptx needs NVRTC, but libnvrtc cannot be loaded (install the CUDA \
                     toolkit or put libnvrtc.so on LD_LIBRARY_PATH); --emit cuda needs no \
                     library"
                        .into(),
                ));
            }
            let src = kiln_cuda::generate(program)
                .map_err(|e| CliError::Backend(format!("CUDA code generation: {e}")))?;
            kiln_cuda::nvrtc::compile_source(&src, &arch)
                .map(|c| c.ptx)
                .map_err(|e| CliError::Backend(format!("NVRTC: {e}")))
        }
    }
}
