//! The `kiln` binary: run and compile `.kiln` graphs through the guarded cache, and inspect the cache.
//!
//! Errors print one line `kiln: error: ...` and exit with code 1; usage errors exit with 2.
//! (`compile --emit ptx --verbose` is the one way to get NVRTC's log after the line.)
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use kiln_cli::cli::{CacheCommand, Cli, Command};
use kiln_cli::common::open_cache;
use kiln_cli::error::CliResult;
use kiln_cli::{cache_admin, compile, doctor, explain, inspect, run};

/// `KILN_LOG`, else `RUST_LOG`, else warnings only; always to stderr.
fn init_logging() {
    let filter = std::env::var("KILN_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// A bug must still end in one line, not a backtrace, unless RUST_BACKTRACE asks for it.
fn install_panic_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        eprintln!("kiln: internal error: {info} (please report it; RUST_BACKTRACE=1 shows where)");
    }));
}

fn dispatch(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Compile(args) => compile::compile(args),
        Command::Doctor(args) => doctor::doctor(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Cache(args) => {
            let dir = args.cache.cache_dir.as_ref();
            match args.command {
                CacheCommand::Explain(ex) => explain::explain(ex, dir),
                CacheCommand::Stats { json } => cache_admin::stats_of(dir, json),
                CacheCommand::List { json } => cache_admin::list(&open_cache(dir)?, json),
                CacheCommand::Clear => cache_admin::clear(&open_cache(dir)?),
                CacheCommand::Prune { max_size } => {
                    cache_admin::prune(&open_cache(dir)?, max_size.as_deref())
                }
                CacheCommand::Verify => cache_admin::verify(&open_cache(dir)?),
                CacheCommand::Export { file } => cache_admin::export(&open_cache(dir)?, &file),
                CacheCommand::Import { file } => cache_admin::import(&open_cache(dir)?, &file),
            }
        }
    }
}

/// `kiln ... | head` closes stdout early. Rust ignores SIGPIPE, so the next print would panic
/// ("failed printing to stdout"); like other Unix tools, kiln should just stop.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: resetting a signal's disposition to its default has no preconditions; no other
    // thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    install_panic_hook();
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
