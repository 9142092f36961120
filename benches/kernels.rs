//! Small criterion benches that run quickly: the fused elementwise chain at 1M elements
//! (preallocated outputs), `x + y` at 1M, and a cache hit (reset, then load the kernels from
//! the on-disk cache). The full-size comparison with memcpy and the STREAM triad is
//! `examples/kernel_bench.rs`.
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln::{CompileOptions, Compiler, Outcome, Tensor};

const FUSED: &str = "graph fused\ninput x: f32[N, D]\ninput y: f32[N, D]\ninput z: f32[1, D]\n\
                     xy = mul(x, y)\ns = add(xy, z)\nr = relu(s)\ng = sigmoid(r)\n\
                     t = mul(g, 2.0)\nout = sub(t, 1.0)\noutput out\n";
const ADD: &str = "graph add\ninput x: f32[N]\ninput y: f32[N]\nz = add(x, y)\noutput z\n";

fn ramp(shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| ((i % 1000) as f32 / 500.0 - 1.0) * scale)
        .collect();
    Tensor::from_f32(shape, &values)
}

fn elementwise(c: &mut Criterion) {
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let mut group = c.benchmark_group("elementwise_1m");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));

    let fused = compiler
        .compile(&kiln::parse(FUSED).expect("the fused graph parses"))
        .expect("the fused graph compiles");
    let (x, y, z) = (
        ramp(&[1024, 1024], 1.0),
        ramp(&[1024, 1024], 0.5),
        ramp(&[1, 1024], 0.1),
    );
    let inputs = [&x, &y, &z];
    let mut out = fused.run(&inputs).expect("the fused graph runs");
    group.throughput(Throughput::Bytes(4 * 3 * (1 << 20)));
    group.bench_function("fused_sigmoid_relu", |b| {
        b.iter(|| {
            fused
                .run_into(&inputs, &mut out)
                .expect("run_into succeeds")
        })
    });

    let add = compiler
        .compile(&kiln::parse(ADD).expect("the add graph parses"))
        .expect("the add graph compiles");
    let (a, b2) = (ramp(&[1 << 20], 1.0), ramp(&[1 << 20], 2.0));
    let mut sum = add.run(&[&a, &b2]).expect("add runs");
    group.bench_function("add", |b| {
        b.iter(|| {
            add.run_into(&[&a, &b2], &mut sum)
                .expect("run_into succeeds")
        })
    });
    group.finish();
}

fn cache_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary cache directory");
    let compiler = Compiler::new(CompileOptions::default().cache_dir(dir.path()));
    let f = compiler
        .compile(&kiln::parse(FUSED).expect("the fused graph parses"))
        .expect("the fused graph compiles");
    let shapes = [vec![64, 64], vec![64, 64], vec![1, 64]];
    f.prepare(&shapes)
        .expect("the first compile fills the cache");
    let mut group = c.benchmark_group("cache");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("hit_after_reset", |b| {
        b.iter(|| {
            f.reset();
            let report = f.prepare(&shapes).expect("prepare succeeds");
            assert_eq!(report.outcome, Outcome::Hit, "reset then prepare must hit");
        })
    });
    group.finish();
}

criterion_group!(benches, elementwise, cache_hit);
criterion_main!(benches);
