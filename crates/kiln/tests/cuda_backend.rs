//! The CUDA backend through the driver: on a machine without a GPU every call is a typed error
//! (never a panic); on a GPU the seed's load-function test runs with `backend = cuda`.
use kiln::{Backend, CompileOptions, Compiler, DynamicPolicy, KilnError, Outcome, Tensor};

const GRAPH: &str = "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b\n";

fn gpu_present() -> bool {
    kiln_cuda::CudaDevice::new(0).is_ok()
}

#[test]
fn cuda_without_a_gpu_is_a_typed_error() {
    if gpu_present() {
        eprintln!("skipped: a GPU is present (this test covers machines without one)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let compiler = Compiler::new(CompileOptions::default().backend(Backend::Cuda).cache_dir(dir.path()));
    let f = compiler.compile(&kiln::parse(GRAPH).unwrap()).unwrap();
    let x = Tensor::from_f32(&[2, 3], &[1.0; 6]);
    match f.run(&[&x, &x]) {
        Err(KilnError::BackendUnavailable { backend: "cuda", reason }) => assert!(!reason.is_empty()),
        other => panic!("expected BackendUnavailable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn cuda_load_function_miss_then_hit() {
    if !gpu_present() {
        eprintln!("skipped: no CUDA device");
        return;
    }
    for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Compiler::new(CompileOptions::default().backend(Backend::Cuda).dynamic(policy).cache_dir(dir.path()));
        let graph = kiln::parse(GRAPH).unwrap();
        let f = compiler.compile(&graph).unwrap();
        let x = Tensor::from_f32(&[5, 5], &(0..25).map(|i| i as f32 * 0.5).collect::<Vec<_>>());
        let y = Tensor::from_f32(&[3, 4], &(0..12).map(|i| i as f32 - 3.0).collect::<Vec<_>>());
        let first = f.run(&[&x, &y]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Miss);
        f.reset();
        let second = f.run(&[&x, &y]).unwrap();
        assert_eq!(f.last_report().unwrap().outcome, Outcome::Hit);
        assert_eq!(first, second);
        assert_eq!(first, kiln_ir::interpret(&graph, &[x.clone(), y.clone()]).unwrap());
    }
}
