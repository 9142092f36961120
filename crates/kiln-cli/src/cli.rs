//! The command line's grammar (clap). Usage errors exit with code 2.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "kiln: compile and run tensor graphs through a guarded on-disk cache",
    after_help = "Logging: KILN_LOG or RUST_LOG (e.g. KILN_LOG=kiln=debug) to stderr."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile (or load from the cache) and run a graph on .npy inputs.
    Run(RunArgs),
    /// Compile a graph for given shapes without data (fills the cache); optionally print code.
    Compile(CompileArgs),
    /// Inspect and maintain the cache.
    Cache(CacheArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DynamicArg {
    /// One entry per shape.
    Static,
    /// Declared symbols stay symbolic: one entry serves many shapes.
    Dynamic,
    /// Static first; symbols that change become dynamic.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitArg {
    /// The scheduled kernel IR.
    KernelIr,
    /// Cranelift IR of the CPU kernels.
    Clif,
    /// CUDA C source (no GPU needed).
    Cuda,
    /// PTX from NVRTC (needs libnvrtc, no GPU).
    Ptx,
}

/// Where the cache lives (every subcommand).
#[derive(Debug, Clone, Args)]
pub struct CacheDirArg {
    /// Cache directory [default: $KILN_CACHE_DIR, else the platform cache dir]
    #[arg(long, value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
}

/// How to compile (run, compile, explain).
#[derive(Debug, Clone, Args)]
pub struct CompileFlags {
    /// Code generator.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendArg,
    /// How symbolic dims specialise.
    #[arg(long, value_enum, default_value = "dynamic")]
    pub dynamic: DynamicArg,
    /// Element count from which kernels index with 64 bits (part of the key; lowering it
    /// shows the guard that protects 32-bit indexing).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub index_limit: Option<i64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The .kiln graph.
    pub graph: PathBuf,
    /// An input as NAME=FILE.npy (one per graph input).
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// Write each output to DIR/<output name>.npy.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub flags: CompileFlags,
    #[command(flatten)]
    pub shared: SharedCompileArgs,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The .kiln graph.
    pub graph: PathBuf,
    /// An input's shape as NAME=2x3x4 (NAME= or NAME=scalar for a scalar).
    #[arg(long = "shape", short = 's', value_name = "NAME=DIMS")]
    pub shapes: Vec<String>,
    #[command(flatten)]
    pub flags: CompileFlags,
    /// Print the generated code.
    #[arg(long, value_enum)]
    pub emit: Option<EmitArg>,
    /// GPU architecture for --emit ptx.
    #[arg(long, default_value = "sm_90")]
    pub arch: String,
    #[command(flatten)]
    pub shared: SharedCompileArgs,
}

/// The arguments run and compile share after their own: cache use and output format.
#[derive(Debug, Args)]
pub struct SharedCompileArgs {
    /// Compile without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cache: CacheDirArg,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
    #[command(flatten)]
    pub cache: CacheDirArg,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes, per-backend counts and lifetime hit/miss counters.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Every entry with its key, size, backend, graph and guards.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove every entry.
    Clear,
    /// Evict least-recently-used entries down to a size.
    Prune {
        /// e.g. 500M, 1.5GiB [default: the cache's configured maximum]
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
    },
    /// Check every entry and remove the damaged ones.
    Verify,
    /// Write every entry into one bundle file.
    Export { file: PathBuf },
    /// Add the entries of a bundle file.
    Import { file: PathBuf },
    /// Explain what a compile with these shapes would find in the cache, and why.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The .kiln graph.
    pub graph: PathBuf,
    /// An input's shape as NAME=2x3x4.
    #[arg(long = "shape", short = 's', value_name = "NAME=DIMS")]
    pub shapes: Vec<String>,
    #[command(flatten)]
    pub flags: CompileFlags,
    #[arg(long)]
    pub json: bool,
}
