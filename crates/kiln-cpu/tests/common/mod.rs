//! Shared helpers: compile a `.kiln` source for given shapes, run it, compare with the
//! reference interpreter under per-dtype tolerances.
#![allow(dead_code)]

use kiln_cpu::{CompiledProgram, CpuArtifact};
use kiln_ir::{DType, Graph, Tensor};
use kiln_sched::{Program, SchedOptions};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

/// Relative and absolute tolerance for comparing a dtype's results with the interpreter's.
pub fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 => (2e-5, 1e-6),
        DType::F64 => (1e-12, 1e-14),
        DType::F16 => (2e-3, 1e-4),
        DType::BF16 => (1.6e-2, 1e-3),
        DType::Bool | DType::I64 => (0.0, 0.0),
    }
}

pub fn parse(src: &str) -> Graph {
    kiln_ir::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// Schedules `g` for the shapes of `inputs` under `policy`.
pub fn schedule(g: &Graph, shapes: &[Vec<i64>], policy: &Policy) -> Program {
    let decls = g.input_dims();
    let bindings = bind_symbols(&decls, shapes).expect("bind");
    let mut env = ShapeEnv::new();
    let spec = specialize_inputs(&mut env, &decls, &bindings, policy).expect("specialise");
    kiln_sched::schedule(g, &mut env, &spec, &SchedOptions::default()).expect("schedule")
}

pub fn shapes_of(inputs: &[Tensor]) -> Vec<Vec<i64>> {
    inputs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as i64).collect())
        .collect()
}

pub fn compile(g: &Graph, inputs: &[Tensor], policy: &Policy) -> (CompiledProgram, CpuArtifact) {
    let program = schedule(g, &shapes_of(inputs), policy);
    kiln_cpu::compile(&program).unwrap_or_else(|e| panic!("{e}\n{program}"))
}

/// Deterministic pseudo-random values in `[lo, hi)`.
pub fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        })
        .collect()
}

pub fn tensor(dtype: DType, shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor {
    let n = shape.iter().product();
    let v = values(n, seed, lo, hi);
    let v: Vec<f64> = if dtype == DType::Bool {
        v.iter()
            .map(|x| f64::from(u8::from(*x > (lo + hi) / 2.0)))
            .collect()
    } else {
        v
    };
    Tensor::from_f64(dtype, shape, &v)
}

/// Asserts `got` equals `want` within `want.dtype`'s tolerance (NaN matches NaN).
pub fn assert_close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.dtype, want.dtype, "{what}: dtype");
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let (rel, abs) = tolerance(want.dtype);
    let (g, w) = (got.to_f64(), want.to_f64());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= abs + rel * b.abs();
        assert!(
            ok,
            "{what}: element {i}: got {a}, expected {b} ({})",
            want.dtype
        );
    }
}

/// Compiles `src` for `inputs`, runs it and compares every output with the interpreter.
pub fn check_with(src: &str, inputs: &[Tensor], policy: &Policy) -> CompiledProgram {
    let g = parse(src);
    let (compiled, _) = compile(&g, inputs, policy);
    compare(&g, &compiled, inputs, src);
    compiled
}

pub fn check(src: &str, inputs: &[Tensor]) -> CompiledProgram {
    check_with(src, inputs, &Policy::Static)
}

/// Runs `compiled` and compares with the interpreter on `inputs`.
pub fn compare(g: &Graph, compiled: &CompiledProgram, inputs: &[Tensor], what: &str) {
    let want = kiln_ir::interpret(g, inputs).unwrap_or_else(|e| panic!("interpret: {e}\n{what}"));
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = compiled
        .run(&refs)
        .unwrap_or_else(|e| panic!("run: {e}\n{what}"));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_close(g, w, what);
    }
}
