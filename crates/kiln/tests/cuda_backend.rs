//! The CUDA backend through the driver: on a machine without a GPU every call is a typed error
//! (never a panic); on a GPU the seed's load-function test runs with `backend = cuda`.
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use kiln::{Backend, CompileOptions, Compiler, DType, DynamicPolicy, KilnError, Outcome, Tensor};

const GRAPH: &str = "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b\n";

fn gpu_present() -> bool {
    kiln_cuda::CudaDevice::new(0).is_ok()
}

#[test]
fn cuda_without_a_gpu_is_a_typed_error() {
    if gpu_present() {
        skip_support::skip("a GPU is present (this test covers machines without one)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let compiler = Compiler::new(
        CompileOptions::default()
            .backend(Backend::Cuda)
            .cache_dir(dir.path()),
    );
    let f = compiler.compile(&kiln::parse(GRAPH).unwrap()).unwrap();
    let x = Tensor::from_f32(&[2, 3], &[1.0; 6]);
    match f.run(&[&x, &x]) {
        Err(KilnError::BackendUnavailable {
            backend: "cuda",
            reason,
        }) => {
            assert!(!reason.is_empty());
            // The reason is the driver's, wrapped once (issue 14.3: the prefix was doubled).
            assert!(!reason.contains("backend is not available"), "{reason}");
        }
        other => panic!("expected BackendUnavailable, got {:?}", other.map(|_| ())),
    }
}

fn cuda(dir: &std::path::Path, policy: DynamicPolicy) -> CompileOptions {
    CompileOptions::default()
        .backend(Backend::Cuda)
        .dynamic(policy)
        .cache_dir(dir)
}

fn ramp(dtype: DType, shape: &[usize], scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i % 97) as f64 - 48.0) * scale).collect();
    Tensor::from_f64(dtype, shape, &v)
}

/// The seed's test_cache_load_function on the GPU: every dtype x static and dynamic; the hit
/// (after reset) computes what the miss did, and both match the interpreter.
#[test]
fn cuda_load_function_every_dtype() {
    if !gpu_present() {
        skip_support::skip("no CUDA device");
        return;
    }
    for dtype in [DType::F32, DType::BF16, DType::F16, DType::F64] {
        for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
            let dir = tempfile::tempdir().unwrap();
            let src = GRAPH.replace("f32", dtype.name());
            let graph = kiln::parse(&src).unwrap();
            let f = Compiler::new(cuda(dir.path(), policy))
                .compile(&graph)
                .unwrap();
            let (x, y) = (ramp(dtype, &[5, 5], 0.25), ramp(dtype, &[3, 7], 0.5));
            let first = f.run(&[&x, &y]).unwrap();
            assert_eq!(
                f.last_report().unwrap().outcome,
                Outcome::Miss,
                "{dtype} {policy:?}"
            );
            f.reset();
            let second = f.run(&[&x, &y]).unwrap();
            assert_eq!(
                f.last_report().unwrap().outcome,
                Outcome::Hit,
                "{dtype} {policy:?}"
            );
            assert_eq!(first, second);
            assert_eq!(
                first,
                kiln_ir::interpret(&graph, &[x, y]).unwrap(),
                "{dtype} {policy:?}"
            );
        }
    }
}

/// The seed's int32-bounds test with the limit lowered: each side of the limit misses once
/// (without reset) and hits after reset.
#[test]
fn cuda_guards_int32_bounds() {
    if !gpu_present() {
        skip_support::skip("no CUDA device");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let graph = kiln::parse(GRAPH).unwrap();
    let f = Compiler::new(cuda(dir.path(), DynamicPolicy::Dynamic).index_limit(1000))
        .compile(&graph)
        .unwrap();
    for (a, b) in [([5, 6], [7, 8]), ([5, 6], [47, 48]), ([47, 48], [5, 6])] {
        let (x, y) = (ramp(DType::F32, &a, 1.0), ramp(DType::F32, &b, 1.0));
        let first = f.run(&[&x, &y]).unwrap();
        let outcome = f.last_report().unwrap().outcome;
        assert!(
            matches!(outcome, Outcome::Miss | Outcome::GuardMiss),
            "{a:?} {b:?}: {outcome:?}"
        );
        f.reset();
        let second = f.run(&[&x, &y]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Hit);
        assert_eq!(first, second);
    }
}

/// The seed's static-bounds test: adaptive pooling specialises H and W, so each new shape is a
/// new entry under the same key; after reset each hits.
#[test]
fn cuda_guards_static_bounds_and_clear() {
    if !gpu_present() {
        skip_support::skip("no CUDA device");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let graph = kiln::parse(
        "graph ad\ninput x: f32[N, C, H, W]\ny = adaptive_avg_pool2d(x, [5, 7])\noutput y\n",
    )
    .unwrap();
    let compiler = Compiler::new(cuda(dir.path(), DynamicPolicy::Dynamic));
    let f = compiler.compile(&graph).unwrap();
    let shapes = [[1, 64, 8, 9], [1, 64, 9, 10], [1, 64, 10, 11]];
    for (i, s) in shapes.iter().enumerate() {
        let x = ramp(DType::F32, s, 0.1);
        let out = f.run(&[&x]).unwrap();
        let expected = if i == 0 {
            Outcome::Miss
        } else {
            Outcome::GuardMiss
        };
        assert_eq!(f.last_report().unwrap().outcome, expected, "{s:?}");
        // Window sums run in f32 on the GPU and in f64 in the interpreter.
        let want = kiln_ir::interpret(&graph, &[x]).unwrap();
        for (a, b) in out[0].to_f64().iter().zip(want[0].to_f64()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{s:?}: {a} vs {b}");
        }
    }
    for s in &shapes {
        f.reset();
        f.run(&[&ramp(DType::F32, s, 0.1)]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Hit, "{s:?}");
    }
    compiler.cache().unwrap().clear().unwrap();
    f.reset();
    f.run(&[&ramp(DType::F32, &shapes[0], 0.1)]).unwrap();
    assert_eq!(f.last_report().unwrap().outcome, Outcome::Miss);
}

#[test]
fn cuda_load_function_miss_then_hit() {
    if !gpu_present() {
        skip_support::skip("no CUDA device");
        return;
    }
    for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Compiler::new(
            CompileOptions::default()
                .backend(Backend::Cuda)
                .dynamic(policy)
                .cache_dir(dir.path()),
        );
        let graph = kiln::parse(GRAPH).unwrap();
        let f = compiler.compile(&graph).unwrap();
        let x = Tensor::from_f32(
            &[5, 5],
            &(0..25).map(|i| i as f32 * 0.5).collect::<Vec<_>>(),
        );
        let y = Tensor::from_f32(
            &[3, 4],
            &(0..12).map(|i| i as f32 - 3.0).collect::<Vec<_>>(),
        );
        let first = f.run(&[&x, &y]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Miss);
        f.reset();
        let second = f.run(&[&x, &y]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Hit);
        assert_eq!(first, second);
        assert_eq!(
            first,
            kiln_ir::interpret(&graph, &[x.clone(), y.clone()]).unwrap()
        );
    }
}
