//! The fixed cost of one call on a small graph: input validation, the in-memory
//! specialisation match and the launch, with almost no arithmetic (`mul(x, w) + b` on 64
//! elements), so what is measured is the hot path's overhead, not the kernel.
//!
//! `cargo run --release --example call_bench -- [--json] [--reps N]`
//!
//! Rows: `run` (fresh outputs), `run_into` (caller's outputs), `model_run` (`w`, `b` bound as
//! parameters, `kiln::Model::run`), each on a static and a dynamic
//! (`N` symbolic) specialisation. Each figure is the median over `reps` batches of 20,000
//! calls, in ns per call.
use std::time::Instant;

use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};
use serde_json::json;

const CALLS: usize = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(reps: usize, mut call: impl FnMut()) -> f64 {
    for _ in 0..CALLS / 10 {
        call();
    }
    let runs = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..CALLS {
                call();
            }
            t.elapsed().as_secs_f64() * 1e9 / CALLS as f64
        })
        .collect();
    median(runs)
}

fn opts_of(policy: DynamicPolicy) -> CompileOptions {
    CompileOptions {
        dynamic: policy,
        ..CompileOptions::default()
    }
    .no_cache()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut json_out = false;
    let mut reps = 7;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_out = true,
            "--reps" => reps = args.next().ok_or("--reps needs a number")?.parse()?,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let src = "graph small\ninput x: f32[N, 8]\ninput w: f32[8]\ninput b: f32[8]\n\
               m = mul(x, w)\ny = add(m, b)\noutput y\n";
    let graph = kiln::parse(src)?;
    let x = Tensor::from_f32(&[8, 8], &[0.5; 64]);
    let w = Tensor::from_f32(&[8], &[2.0; 8]);
    let b = Tensor::from_f32(&[8], &[1.0; 8]);
    for (policy, name) in [
        (DynamicPolicy::Static, "static"),
        (DynamicPolicy::Dynamic, "dynamic"),
    ] {
        let f = Compiler::new(opts_of(policy)).compile(&graph)?;
        let inputs = [&x, &w, &b];
        f.run(&inputs)?;
        let run_ns = time(reps, || {
            std::hint::black_box(f.run(&inputs).expect("runs"));
        });
        let mut outs = vec![Tensor::zeros(DType::F32, &[8, 8])];
        let into_ns = time(reps, || {
            f.run_into(&inputs, &mut outs).expect("runs");
        });
        // The same graph with `w`, `b` as bound parameters: a call checks `x` only.
        let params_src = src
            .replace("input w", "param w")
            .replace("input b", "param b");
        let pf = Compiler::new(opts_of(policy)).compile(&kiln::parse(&params_src)?)?;
        let model = pf.bind([("w", w.clone()), ("b", b.clone())])?;
        model.run(&[&x])?;
        let model_ns = time(reps, || {
            std::hint::black_box(model.run(&[&x]).expect("runs"));
        });
        for (case, ns) in [
            ("run", run_ns),
            ("run_into", into_ns),
            ("model_run", model_ns),
        ] {
            if json_out {
                println!(
                    "{}",
                    json!({"case": format!("{case}/{name}"), "ns_per_call": ns})
                );
            } else {
                println!("{case:>9}/{name:<8} {ns:>8.0} ns/call");
            }
        }
    }
    Ok(())
}
