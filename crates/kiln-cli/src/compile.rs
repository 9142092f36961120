//! `kiln compile`: compile for shapes without data (fills the cache), optionally print the
//! kernel IR, Cranelift IR, CUDA C or PTX of what was generated.
use kiln_sched::Program;
use serde_json::json;

use crate::cli::{CompileArgs, EmitArg};
use crate::common::{compile_with, dims_text, in_graph, key_note, load_graph, shapes_from_flags};
use crate::error::{CliError, CliResult};

pub fn compile(args: CompileArgs) -> CliResult<()> {
    let graph = load_graph(&args.graph)?;
    let shapes = shapes_from_flags(&graph, &args.shapes)?;
    let f = compile_with(&args.graph, &graph, &args.flags, &args.shared)?;
    let report = f.prepare(&shapes).map_err(in_graph(&args.graph))?;
    let emitted = match args.emit {
        None => None,
        Some(what) => {
            let exec = f.executable(&shapes).map_err(in_graph(&args.graph))?;
            Some(emit(exec.program(), what, &args.arch, args.verbose)?)
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

/// The text of one `--emit` kind for `program`. With `verbose`, an NVRTC rejection carries
/// its log and source in the error; otherwise they go to a file the one-line error names.
pub fn emit(program: &Program, what: EmitArg, arch: &str, verbose: bool) -> CliResult<String> {
    match what {
        EmitArg::KernelIr => Ok(program.to_string()),
        EmitArg::Clif => Ok(kiln_cpu::emit_clif(program)),
        EmitArg::Cuda => kiln_cuda::generate(program)
            .map(|src| src.code)
            .map_err(|e| CliError::Backend(format!("CUDA code generation: {e}"))),
        EmitArg::Ptx => {
            let arch = kiln_cuda::Arch::parse(arch)
                .map_err(|e| CliError::Usage(format!("--arch {arch}: {e}")))?;
            if let Err(tried) = kiln_cuda::nvrtc_library() {
                return Err(CliError::Backend(format!(
                    "--emit ptx needs NVRTC, but no libnvrtc loads (tried {} {}; `kiln \
                     doctor` lists them): `pip install nvidia-cuda-nvrtc` into the active \
                     Python environment, or set KILN_NVRTC=/path/to/libnvrtc.so.N; --emit cuda \
                     needs no library",
                    tried.len(),
                    if tried.len() == 1 { "place" } else { "places" }
                )));
            }
            let src = kiln_cuda::generate(program)
                .map_err(|e| CliError::Backend(format!("CUDA code generation: {e}")))?;
            kiln_cuda::nvrtc::compile_source(&src, &arch)
                .map(|c| c.ptx)
                .map_err(|e| nvrtc_error(e, &src, verbose))
        }
    }
}

/// NVRTC's error as one line; a rejection's log and the numbered source are written to a file
/// (or, with `verbose`, appended to the error).
fn nvrtc_error(e: kiln_cuda::CudaError, src: &kiln_cuda::CudaSource, verbose: bool) -> CliError {
    let kiln_cuda::CudaError::Compile {
        program,
        arch,
        status,
        log,
        ..
    } = &e
    else {
        return CliError::Backend(format!("NVRTC: {e}"));
    };
    let head = format!("NVRTC rejected `{program}` for {arch}: {status}");
    let details = format!(
        "{log}

{}",
        src.numbered()
    );
    if verbose {
        return CliError::Backend(format!(
            "{head}
{details}"
        ));
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
