//! Throughput of the data movement kernels (bytes read + written per second, fresh outputs
//! each call), beside a plain `copy_from_slice` of the same bytes in the same run.
//!
//! `cargo run --release --example movement_bench` (the `cat` lowering was chosen with it:
//! set `KILN_CAT_SELECT=1` to lower `cat` as one kernel selecting by index range instead of
//! one kernel per input).
mod common;

use std::time::Instant;

use common::data;
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};

const CASES: &[(&str, &str, &[&[usize]])] = &[
    (
        "cat dim 0, 2 x [2048, 4096]",
        "c = cat([x, y])\noutput c",
        &[&[2048, 4096], &[2048, 4096]],
    ),
    (
        "cat dim 1, 2 x [4096, 2048]",
        "c = cat([x, y], dim=1)\noutput c",
        &[&[4096, 2048], &[4096, 2048]],
    ),
    (
        "cat dim 1, 4 x [4096, 1024]",
        "c = cat([x, y, x, y], dim=1)\noutput c",
        &[&[4096, 1024], &[4096, 1024]],
    ),
    (
        "cat dim 1 then *2, 2 x [4096, 2048]",
        "c = cat([x, y], dim=1)\nd = mul(c, 2.0)\noutput d",
        &[&[4096, 2048], &[4096, 2048]],
    ),
    (
        "pad constant 1, [4096, 4096]",
        "p = pad(x, [1, 1, 1, 1])\noutput p",
        &[&[4096, 4096]],
    ),
    (
        "pad reflect 3, [1, 4096, 4096]",
        "p = pad(x, [3, 3, 3, 3], mode=\"reflect\")\noutput p",
        &[&[1, 4096, 4096]],
    ),
    (
        "slice step 2, [4096, 8192]",
        "s = slice(x, 1, step=2)\noutput s",
        &[&[4096, 8192]],
    ),
    (
        "repeat [2, 2], [2048, 2048]",
        "r = repeat(x, [2, 2])\noutput r",
        &[&[2048, 2048]],
    ),
];

fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let opts = CompileOptions::default()
        .dynamic(DynamicPolicy::Dynamic)
        .cache_dir(dir.path());
    let compiler = Compiler::new(opts);
    let reps = 15;
    for (what, body, shapes) in CASES {
        let decls: Vec<String> = ["x", "y"]
            .iter()
            .zip(shapes.iter())
            .map(|(n, s)| {
                let dims = ["A", "B", "C"][3 - s.len()..].join(", ");
                format!("input {n}: f32[{dims}]")
            })
            .collect();
        let src = format!("graph m\n{}\n{body}\n", decls.join("\n"));
        let f = compiler.compile(&kiln::parse(&src)?)?;
        let inputs: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| data(DType::F32, s, i as u64 + 1, 1.0))
            .collect();
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let out = f.run(&refs)?;
        let bytes = (inputs.iter().map(|t| t.data.len()).sum::<usize>()
            + out.iter().map(|t| t.data.len()).sum::<usize>()) as f64;
        let kiln = median_secs(reps, || {
            f.run(&refs).expect("run");
        });
        // Reference: memcpy of the output's size into a buffer already faulted in (an upper
        // bound: kiln allocates fresh outputs).
        let out_len = out[0].data.len();
        let src_bytes = vec![1u8; out_len];
        let mut dst = vec![0u8; out_len];
        let copy = median_secs(reps, || {
            dst.copy_from_slice(&src_bytes);
            std::hint::black_box(&dst);
        });
        let copy_gbs = 2.0 * out_len as f64 / copy / 1e9;
        println!(
            "{what:40} kiln {:6.2} GB/s   memcpy of the output {:6.2} GB/s",
            bytes / kiln / 1e9,
            copy_gbs
        );
    }
    Ok(())
}
