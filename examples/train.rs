//! Trains a small MLP on two spirals (generated here, see `kiln_suite::train`) with SGD and
//! momentum through `kiln::Trainer`: one compiled step graph (forward, backward and update),
//! cached like any graph, parameters updated in place (two buffer sets that swap, so a step
//! allocates nothing).
//!
//! `cargo run --release --example train -- [--steps N] [--cache-dir DIR]`
//!
//! Prints the step graph's compile (miss, or hit on a second run), the time to the first
//! step, the loss every 25 steps and the step time. The same model trained by PyTorch from
//! the same weights is `scripts/train_reference.py`; `tests/train_curve.rs` compares the two.
use std::time::Instant;

use kiln::{CompileOptions, Compiler};
use kiln_suite::train;

struct Args {
    steps: usize,
    cache_dir: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        steps: train::STEPS,
        cache_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--steps" => {
                let v = it.next().and_then(|v| v.parse().ok());
                args.steps = v.unwrap_or_else(|| usage("--steps takes a number"));
            }
            "--cache-dir" => args.cache_dir = it.next(),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn usage(msg: &str) -> ! {
    eprintln!("train: {msg}\nusage: train [--steps N] [--cache-dir DIR]");
    std::process::exit(2)
}

fn main() -> Result<(), kiln::KilnError> {
    let args = args();
    let start = Instant::now();
    let mut opts = CompileOptions::default();
    if let Some(dir) = &args.cache_dir {
        opts = opts.cache_dir(dir);
    }
    let compiler = Compiler::new(opts);
    let graph = kiln::parse(&train::mlp_text(train::HIDDEN))?;
    let (x, labels) = train::spirals();
    let batches = train::batches(&x, &labels);
    let params = train::init_params(train::HIDDEN, train::INIT_SEED);
    let mut trainer = compiler.trainer(&graph, &train::train_spec(), params)?;
    println!(
        "two spirals: {} points, MLP 2-{h}-{h}-2 (tanh), batch {}, SGD lr {} momentum {}",
        x.len() / 2,
        train::BATCH,
        train::LR,
        train::MOMENTUM,
        h = train::HIDDEN
    );

    let (x0, t0) = &batches[0];
    let first = trainer.step(&[x0, t0])?;
    let to_first = start.elapsed().as_secs_f64() * 1e3;
    let report = trainer.last_report().expect("the first step compiled");
    println!(
        "step graph: cache {} ({:.1} ms compile); first step done {:.1} ms after start",
        report.outcome.name(),
        report.compile_ms,
        to_first
    );
    println!("step {:>4}  loss {first:.4}", 1);
    let mut times = Vec::with_capacity(args.steps);
    for step in 1..args.steps {
        let (x, t) = &batches[step % batches.len()];
        let t0 = Instant::now();
        let loss = trainer.step(&[x, t])?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
        if (step + 1) % 25 == 0 || step + 1 == args.steps {
            println!("step {:>4}  loss {loss:.4}", step + 1);
        }
    }
    if !times.is_empty() {
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "step time: median {:.1} us, mean {mean:.1} us, best {:.1} us over {} steps",
            times[times.len() / 2],
            times[0],
            times.len()
        );
    }
    Ok(())
}
