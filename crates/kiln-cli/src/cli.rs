//! The command line's grammar (clap). Usage errors exit with code 2.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The top-level help's epilogue: where the graph language is described, and the environment.
const AFTER_HELP: &str = "\
Graphs: a .kiln file has one statement per line: `graph NAME`, `input x: f32[N, C]`,
`y = relu(x)` (PyTorch's op names and arguments), `output y`. The ops and dtypes are listed
under \"The graph language\" in README.md; examples are in examples/graphs/.

Environment:
  KILN_CACHE_DIR        cache directory (default: the platform cache dir, ~/.cache/kiln)
  KILN_CACHE_MAX_SIZE   size limit with LRU eviction, e.g. 500M, 1.5GiB (default 2 GiB)
  KILN_CACHE_SECRET     sign entries with HMAC-SHA256 and refuse unsigned ones
  KILN_REMOTE_CACHE     Redis second level, redis://host:port/db
  KILN_NVRTC            path of the libnvrtc to load (default: searched; see `kiln doctor`)
  KILN_LOG / RUST_LOG   log filter on stderr, e.g. KILN_LOG=kiln=debug

Exit codes: 0 success, 1 error, 2 usage error.";

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "kiln: compile and run tensor graphs through a guarded on-disk cache",
    after_help = AFTER_HELP
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
    /// Which libraries kiln finds (libnvrtc, the CUDA driver), and the cache it would use.
    Doctor(DoctorArgs),
    /// What an ONNX model holds: opset, inputs, outputs, op counts, and what kiln cannot import.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The `.onnx` file.
    pub model: std::path::PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Accepted as by every subcommand; inspecting reads no cache.
    #[command(flatten)]
    pub cache: CacheDirArg,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cache: CacheDirArg,
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
    /// An input as NAME=FILE.npy (one per graph input; parameters come with --param).
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// A parameter (a `param` of the graph: a weight) as NAME=FILE.npy.
    #[arg(long = "param", value_name = "NAME=FILE.npy")]
    pub params: Vec<String>,
    /// Read each parameter not given with --param from DIR/<NAME>.npy.
    #[arg(long = "params", value_name = "DIR")]
    pub params_dir: Option<PathBuf>,
    /// Write each output to DIR/<output name>.npy.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Refuse input values that the declared dtype cannot hold exactly, instead of rounding
    /// them to nearest even as NumPy's astype does (an f64 file for an f32 input).
    #[arg(long)]
    pub exact_inputs: bool,
    /// Differentiate the sum of all elements of the first output with respect to these
    /// inputs or parameters (out.sum().backward()): runs the joint graph (forward, then
    /// backward) and, with --out, writes DIR/grad_<NAME>.npy beside the outputs.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub grad: Vec<String>,
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
    /// With --emit ptx: when NVRTC rejects the code, print its full log and the source after
    /// the error (by default they go to a file that the error names).
    #[arg(long)]
    pub verbose: bool,
    /// Differentiate the sum of all elements of the first output with respect to these
    /// inputs or parameters: compiles the joint graph (forward, then backward), whose outputs
    /// are the graph's, then grad_<NAME> for each NAME.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub grad: Vec<String>,
    #[command(flatten)]
    pub shared: SharedCompileArgs,
}

/// The arguments run and compile share after their own: cache use and output format.
#[derive(Debug, Args)]
pub struct SharedCompileArgs {
    /// Compile without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON object instead of text (with --out, each output's path).
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
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every entry with its key, size, backend, graph and guards.
    List {
        /// Print one JSON object instead of text.
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
    Export {
        /// The bundle to write (replaced if it exists).
        file: PathBuf,
    },
    /// Add the entries of a bundle file.
    Import {
        /// A bundle written by `kiln cache export`.
        file: PathBuf,
    },
    /// Explain what a compile with these shapes would find in the cache, and why.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The .kiln graph.
    pub graph: PathBuf,
    /// An input's shape as NAME=2x3x4 (NAME= or NAME=scalar for a scalar).
    #[arg(long = "shape", short = 's', value_name = "NAME=DIMS")]
    pub shapes: Vec<String>,
    #[command(flatten)]
    pub flags: CompileFlags,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
