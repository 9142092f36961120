//! The main job: compile a graph with symbolic dims through the cache (miss), drop the
//! in-memory specialisation and compile again (hit), run both, check they agree, and serve a
//! second shape from the same dynamic cache entry.
//!
//! `cargo run --release --example quickstart`
mod common;

use std::time::Instant;

use common::{data, max_abs_diff, relu_pool_sigmoid_graph};
use kiln::{CompileOptions, Compiler, DType, Outcome};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let graph = kiln::parse(&relu_pool_sigmoid_graph("quickstart"))?;
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir.path()));
    let f = compiler.compile(&graph)?;

    let (x, s) = (
        data(DType::F32, &[2, 16, 64, 64], 1, 1.0),
        data(DType::F32, &[1, 16, 1, 1], 2, 1.0),
    );
    let inputs = [&x, &s];
    let miss = f.prepare(&[vec![2, 16, 64, 64], vec![1, 16, 1, 1]])?;
    assert_eq!(miss.outcome, Outcome::Miss, "a fresh cache must miss");
    let t = Instant::now();
    let first = f.run(&inputs)?;
    let run_ms = ms(t);

    f.reset(); // forget the in-memory specialisation: the next compile goes through the disk cache
    let hit = f.prepare(&[vec![2, 16, 64, 64], vec![1, 16, 1, 1]])?;
    assert_eq!(hit.outcome, Outcome::Hit, "the second compile must hit");
    let second = f.run(&inputs)?;
    assert_eq!(
        first, second,
        "the cached kernel must compute what the fresh one did"
    );

    let reference = kiln_ir::interpret(&graph, &[x.clone(), s.clone()])?;
    let max_err = max_abs_diff(&first[0], &reference[0]);
    assert!(
        max_err < 1e-5,
        "kiln disagrees with the reference interpreter by {max_err}"
    );

    println!(
        "kiln quickstart: graph `{}` with symbolic N, C, H, W",
        graph.name
    );
    println!(
        "  key     {}",
        miss.key.map(|k| k.to_string()).unwrap_or_default()
    );
    println!("  guards  {}", miss.guards);
    println!(
        "compile, cache miss: {:.2} ms / cache hit: {:.3} ms ({:.0}x)",
        miss.compile_ms,
        hit.compile_ms,
        miss.compile_ms / hit.compile_ms
    );
    let bytes = (x.data.len() + s.data.len() + first[0].data.len()) as f64;
    println!(
        "run on {:?}: {:.2} ms ({:.1} GB/s), max |error| vs reference {:.1e}",
        x.shape,
        run_ms,
        bytes / run_ms / 1e6,
        max_err
    );

    // A second shape in the same guard class is served by the same dynamic entry.
    f.reset();
    let other = [vec![4, 16, 48, 40], vec![1, 16, 1, 1]];
    let again = f.prepare(&other)?;
    let y = f.run(&[
        &data(DType::F32, &[4, 16, 48, 40], 3, 1.0),
        &data(DType::F32, &[1, 16, 1, 1], 4, 1.0),
    ])?;
    println!(
        "second shape {:?}: cache {} in {:.3} ms (same entry: {}), output {:?}",
        other[0],
        again.outcome.name(),
        again.compile_ms,
        again.key == miss.key,
        y[0].shape
    );
    let c = compiler.counters();
    println!(
        "counters: hit {} / miss {} / guard_miss {} / in-memory {}",
        c.hit, c.miss, c.guard_miss, c.memory
    );
    Ok(())
}
