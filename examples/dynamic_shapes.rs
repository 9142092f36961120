//! One cache entry serving many shapes, and a guard that forces a new entry: with the int32
//! indexing limit lowered to 4096 elements, the first entry is valid only while `N*D < 4096`;
//! a larger input misses that guard and gets its own 64-bit-indexed entry under the same key.
//! `f.explain` says why, naming the failing guard and the symbol values.
//!
//! `cargo run --release --example dynamic_shapes`
use kiln::{CompileOptions, Compiler, DynamicPolicy, Tensor};

const GRAPH: &str = "\
graph scale_shift
input x: f32[N, D]
input w: f32[1, D]
t = mul(x, w)
y = add(t, 1.0)
output y
";

fn ones(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f32(shape, &vec![1.0; n])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let graph = kiln::parse(GRAPH)?;
    let opts = CompileOptions::default()
        .cache_dir(dir.path())
        .index_limit(4096);
    let compiler = Compiler::new(opts);
    let f = compiler.compile(&graph)?;
    let cache = compiler.cache().ok_or("the cache is unusable")?;
    for (n, d) in [(4, 16), (10, 64), (31, 100), (64, 128)] {
        f.reset(); // forget in-memory code: every call below goes through the disk cache
        let shapes = [vec![n, d], vec![1, d]];
        let why = f.explain(cache, &shapes, DynamicPolicy::Dynamic)?;
        let report = f.prepare(&shapes)?;
        let y = f.run(&[&ones(&[n as usize, d as usize]), &ones(&[1, d as usize])])?;
        let entry = report.key.map(|k| k.to_string()).unwrap_or_default();
        println!(
            "N={n:<3} D={d:<4} {:<10} key {}…  y[0]={}  before: {}",
            report.outcome.name(),
            entry.get(..12).unwrap_or(""),
            y[0].to_f64().first().copied().unwrap_or(f64::NAN),
            summary(&why)
        );
    }
    let c = compiler.counters();
    println!(
        "4 shapes, {} entries under one key: miss {} / hit {} / guard_miss {}",
        cache.entries_for(&cache.keys()?[0]).len(),
        c.miss,
        c.hit,
        c.guard_miss
    );
    Ok(())
}

/// What `explain` predicted, in one line.
fn summary(ex: &kiln::Explanation) -> String {
    let failing: Vec<&str> = ex
        .entries
        .iter()
        .filter_map(|e| e.failure.as_deref())
        .collect();
    match ex.verdict.as_str() {
        "miss" => "no entry under the key".into(),
        "hit" => format!("the guards of 1 of {} entries hold", ex.entries.len()),
        _ => {
            let values: Vec<String> = ex
                .bindings
                .iter()
                .map(|(s, v)| format!("{s}={v}"))
                .collect();
            format!(
                "no guard holds: {} ({})",
                failing.join("; "),
                values.join(", ")
            )
        }
    }
}
