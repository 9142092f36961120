//! Shared helpers of the cache test suite (the seed's test_codecache.py in Rust): graphs,
//! compilers over temporary cache directories, deterministic data, and checks against the
//! reference interpreter.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;

use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Graph, Tensor};

/// `(x + x, y + y)` over two unrelated symbolic shapes (the seed's int32-bounds graph).
pub const ADD2: &str = "graph add2
input x: DT[N, M]
input y: DT[P, Q]
a = add(x, x)
b = add(y, y)
output a, b
";

/// `x * y` (the seed's cache-clear graph).
pub const MUL: &str = "graph mul
input x: DT[N, D]
input y: DT[N, D]
z = mul(x, y)
output z
";

/// `adaptive_avg_pool2d(x, [5, 7])` (the seed's static-bounds graph).
pub const ADAPTIVE: &str = "graph adaptive
input x: DT[N, C, H, W]
y = adaptive_avg_pool2d(x, [5, 7])
output y
";

/// A small "model": elementwise, a pooling, a reduction and a softmax.
pub const MODEL: &str = "graph model
input x: DT[N, C, H, W]
input s: DT[1, C, 1, 1]
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=2, stride=2)
m = mean(p, [2, 3])
q = softmax(m, dim=-1)
output q, p
";

/// Parses `src` with every `DT` replaced by `dtype`.
pub fn graph(src: &str, dtype: DType) -> Graph {
    let text = src.replace("DT", dtype.name());
    kiln::parse(&text).unwrap_or_else(|e| panic!("test graph does not parse: {e}\n{text}"))
}

pub fn compiler(dir: &Path, policy: DynamicPolicy) -> Compiler {
    Compiler::new(CompileOptions::default().cache_dir(dir).dynamic(policy))
}

/// Deterministic pseudo-random values in [-1, 1), rounded to `dtype`.
pub fn data(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f64(dtype, shape, &values)
}

pub fn shapes_of(inputs: &[&Tensor]) -> Vec<Vec<i64>> {
    inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect()
}

/// The tolerance of kiln against the interpreter: a few units in the last place of `dtype`.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-5,
        DType::F16 => 4e-3,
        DType::BF16 => 3e-2,
        DType::Bool | DType::I64 => 0.0,
    }
}

/// Asserts `outputs` agree with `kiln_ir::interpret` on `inputs`.
pub fn assert_matches_reference(graph: &Graph, inputs: &[&Tensor], outputs: &[Tensor]) {
    let owned: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
    let reference = kiln_ir::interpret(graph, &owned).expect("the interpreter runs the graph");
    assert_eq!(outputs.len(), reference.len(), "output count");
    for (i, (got, want)) in outputs.iter().zip(&reference).enumerate() {
        assert_eq!(got.dtype, want.dtype, "output {i} dtype");
        assert_eq!(got.shape, want.shape, "output {i} shape");
        let tol = tolerance(got.dtype);
        let worst = got
            .to_f64()
            .iter()
            .zip(want.to_f64())
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f64::max);
        assert!(
            worst <= tol,
            "output {i} of graph `{}` differs from the interpreter by {worst} (tolerance {tol})",
            graph.name
        );
    }
}

/// Every entry file under `<dir>/v1/<shard>/<key>/`, once this process's queued stores are on
/// disk.
pub fn entry_files(dir: &Path) -> Vec<std::path::PathBuf> {
    kiln::flush_pending_stores();
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir.join("v1")) else {
        return files;
    };
    for shard in shards.flatten() {
        let name = shard.file_name().to_string_lossy().into_owned();
        if name.len() != 2 || !shard.path().is_dir() {
            continue;
        }
        for key in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for file in std::fs::read_dir(key.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let file_name = file.file_name().to_string_lossy().into_owned();
                if file_name.len() == 64 && file_name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    files.push(file.path());
                }
            }
        }
    }
    files.sort();
    files
}
