//! Two processes share one cache: a child process (this example run again with `child DIR`)
//! compiles a graph, then this process finds it there (a hit, no codegen). Then the cache is
//! exported to one bundle file and imported into a fresh directory, where the graph hits too.
//!
//! `cargo run --release --example shared_cache`
use std::path::Path;
use std::process::Command;

use kiln::{CompileOptions, CompileReport, Compiler};

const GRAPH: &str = "\
graph shared
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=3, stride=2, padding=1)
output p
";

fn compile_in(dir: &Path) -> Result<CompileReport, Box<dyn std::error::Error>> {
    let graph = kiln::parse(GRAPH)?;
    let f = Compiler::new(CompileOptions::default().cache_dir(dir)).compile(&graph)?;
    Ok(f.prepare(&[vec![2, 16, 32, 32], vec![1, 16, 1, 1]])?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, dir] = args.as_slice()
        && role == "child"
    {
        let report = compile_in(Path::new(dir))?;
        println!(
            "  child  (pid {}): cache {} in {:.2} ms",
            std::process::id(),
            report.outcome.name(),
            report.compile_ms
        );
        return Ok(());
    }

    let root = tempfile::tempdir()?;
    let shared = root.path().join("shared");
    println!("cache {}", shared.display());
    let status = Command::new(std::env::current_exe()?)
        .arg("child")
        .arg(&shared)
        .status()?;
    if !status.success() {
        return Err(format!("the child process failed: {status}").into());
    }
    let parent = compile_in(&shared)?;
    println!(
        "  parent (pid {}): cache {} in {:.2} ms",
        std::process::id(),
        parent.outcome.name(),
        parent.compile_ms
    );
    if parent.outcome != kiln::Outcome::Hit {
        return Err("the parent should have found the child's entry".into());
    }

    let bundle = root.path().join("cache.bundle");
    let cache = kiln::Cache::open(kiln::CacheConfig {
        dir: shared.clone(),
        ..kiln::CacheConfig::from_env()
    })?;
    let exported = cache.export(&bundle)?;
    let fresh_dir = root.path().join("fresh");
    let fresh = kiln::Cache::open(kiln::CacheConfig {
        dir: fresh_dir.clone(),
        ..kiln::CacheConfig::from_env()
    })?;
    let imported = fresh.import(&bundle)?;
    drop(fresh);
    let after = compile_in(&fresh_dir)?;
    println!(
        "export {exported} entries -> import {} into {} -> cache {} in {:.2} ms",
        imported.imported,
        fresh_dir.display(),
        after.outcome.name(),
        after.compile_ms
    );
    if after.outcome != kiln::Outcome::Hit {
        return Err("the imported entry should hit".into());
    }
    Ok(())
}
