//! The CUDA backend's figures: NVRTC compile (cache miss) vs cubin load (cache hit) for the
//! seed's graphs, and a fused elementwise chain on 64M device-resident f32 elements vs a
//! device-to-device copy of the same bytes, both timed with CUDA events.
//!
//! Then the library steps: cuBLAS GEMMs (square, f32/f16/bf16/f64) and an im2col + cuBLAS
//! convolution (ResNet-50's 3x3 64-channel layer at batch 8), built as programs by hand.
//!
//! `cargo run --release --example cuda_bench -- --json` (prints one line and exits 0 without a GPU).
use std::path::Path;
use std::time::Instant;

use kiln::{Backend, CompileOptions, Compiler, Outcome};
use kiln_cuda::{CudaDevice, CudaProgram, VariantPolicy};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

const SEED_GRAPHS: &[(&str, &str, &[&[i64]])] = &[
    (
        "add2",
        "graph add2\ninput x: f32[N, M]\ninput y: f32[P, Q]\na = add(x, x)\nb = add(y, y)\noutput a, b\n",
        &[&[5, 6], &[7, 8]],
    ),
    (
        "mul",
        "graph mul\ninput x: f32[N]\ninput y: f32[N]\nz = mul(x, y)\noutput z\n",
        &[&[1000], &[1000]],
    ),
    (
        "adaptive",
        "graph adaptive\ninput x: f32[N, C, H, W]\ny = adaptive_avg_pool2d(x, [5, 7])\noutput y\n",
        &[&[1, 64, 8, 9]],
    ),
];

const FUSED: &str = "graph fused\ninput x: f32[N]\ninput y: f32[N]\ninput z: f32[N]\na = mul(x, y)\nb = add(a, z)\nc = relu(b)\nd = sigmoid(c)\ne = mul(d, 2.0)\nf = sub(e, 1.0)\noutput f\n";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A CUDA compiler whose cache lives in `dir` (a fresh one per timed miss).
fn cuda_compiler(dir: &Path) -> Compiler {
    Compiler::new(
        CompileOptions::default()
            .backend(Backend::Cuda)
            .cache_dir(dir),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    let dev = match CudaDevice::new(0) {
        Ok(d) => d,
        Err(e) => {
            println!("skipped: {e}");
            return Ok(());
        }
    };
    let name = dev.name()?;
    for (graph_name, src, shapes) in SEED_GRAPHS {
        let graph = kiln::parse(src)?;
        let shapes: Vec<Vec<i64>> = shapes.iter().map(|s| s.to_vec()).collect();
        let mut misses = vec![];
        for _ in 0..3 {
            let dir = tempfile::tempdir()?;
            let f = cuda_compiler(dir.path()).compile(&graph)?;
            let r = f.prepare(&shapes)?;
            assert_eq!(r.outcome, Outcome::Miss);
            misses.push(r.compile_ms);
        }
        let dir = tempfile::tempdir()?;
        let f = cuda_compiler(dir.path()).compile(&graph)?;
        f.prepare(&shapes)?;
        let mut hits = vec![];
        for _ in 0..20 {
            f.reset();
            let r = f.prepare(&shapes)?;
            assert_eq!(r.outcome, Outcome::Hit);
            hits.push(r.compile_ms);
        }
        let (miss, hit) = (median(misses), median(hits));
        if json {
            println!(
                "{{\"case\": \"compile/{graph_name}\", \"device\": \"{name}\", \"miss_ms\": {miss:.3}, \"hit_ms\": {hit:.4}, \"speedup\": {:.1}}}",
                miss / hit
            );
        } else {
            println!(
                "compile {graph_name:<9} NVRTC miss {miss:8.2} ms  cubin hit {hit:7.3} ms  ({:.0}x)  on {name}",
                miss / hit
            );
        }
    }

    // Run: the fused chain on 64M f32 elements, inputs resident on the device.
    let n: usize = 64 << 20;
    let graph = kiln::parse(FUSED)?;
    let shapes = vec![vec![n as i64]; 3];
    let values = bind_symbols(&graph.input_dims(), &shapes)?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &graph.input_dims(), &values, &Policy::Dynamic)?;
    let program = kiln_sched::schedule(&graph, &mut env, &inputs, &Default::default())?;
    let t = Instant::now();
    let artifact = kiln_cuda::compile(&program, dev.arch()?.as_str())?;
    let nvrtc_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut prog = CudaProgram::load(&dev, &artifact)?;
    // Three distinct buffers: reading one buffer three times would be served by the caches
    // and overstate the bandwidth.
    let upload = |k: usize| -> Result<kiln_cuda::DeviceTensor, kiln_cuda::CudaError> {
        let host: Vec<f32> = (0..n)
            .map(|i| (((i + 7 * k) % 1000) as f32) * 0.002 - 1.0)
            .collect();
        dev.upload(&kiln::Tensor::from_f32(&[n], &host))
    };
    let (x, y, z) = (upload(0)?, upload(1)?, upload(2)?);
    let copy_ms = dev.time_copy_ms(n * 4, 20)?;
    let copy_gbps = (2 * n * 4) as f64 / copy_ms / 1e6;
    // The launcher picks the 16-byte vector kernel here (aligned, row a multiple of 4); the
    // one-thread-per-element kernel is timed too, for comparison.
    for (label, policy) in [
        ("fused_64M", VariantPolicy::Auto),
        ("fused_64M/point", VariantPolicy::PointOnly),
    ] {
        prog.set_variant_policy(policy);
        let run_ms = prog.time_run_ms(&[&x, &y, &z], 20)?;
        let variants = format!("{:?}", prog.last_variants());
        let fused_gbps = (4 * n * 4) as f64 / run_ms / 1e6;
        let ratio = fused_gbps / copy_gbps;
        if json {
            println!(
                "{{\"case\": \"run/{label}\", \"device\": \"{name}\", \"kernel\": \"{variants}\", \"gbps\": {fused_gbps:.1}, \"copy_gbps\": {copy_gbps:.1}, \"ratio_to_copy\": {ratio:.3}, \"nvrtc_ms\": {nvrtc_ms:.1}}}"
            );
        } else {
            println!(
                "run {label} sigmoid(relu(x*y+z))*2-1 on 64M f32 ({variants}): {fused_gbps:.0} GB/s vs device copy {copy_gbps:.0} GB/s ({ratio:.2}x), NVRTC {nvrtc_ms:.1} ms"
            );
        }
    }
    library_rows(&dev, &name, json)?;
    Ok(())
}

fn flat(name: &str, dtype: kiln::DType, numel: usize) -> kiln_sched::TensorSpec {
    kiln_sched::TensorSpec {
        name: name.into(),
        dtype,
        shape: vec![kiln_shape::Expr::int(numel as i64)],
    }
}

/// A program of one library step reading inputs b0, b1 into output b2 (all flat).
fn library_program(
    dtype: kiln::DType,
    numels: [usize; 3],
    call: kiln_sched::LibraryCall,
) -> kiln_sched::Program {
    use kiln_sched::{BufKind, BufferDecl, Step};
    let decl = |n: usize, kind| BufferDecl {
        dtype,
        numel: kiln_shape::Expr::int(n as i64),
        kind,
    };
    kiln_sched::Program {
        graph_name: call.name().to_string(),
        symbols: Vec::new(),
        inputs: vec![flat("a", dtype, numels[0]), flat("b", dtype, numels[1])],
        outputs: vec![(flat("out", dtype, numels[2]), 2)],
        buffers: vec![
            decl(numels[0], BufKind::Input(0)),
            decl(numels[1], BufKind::Input(1)),
            decl(numels[2], BufKind::Output(0)),
        ],
        kernels: Vec::new(),
        steps: vec![Step::Library(Box::new(call))],
    }
}

fn square_gemm(dtype: kiln::DType, n: usize) -> kiln_sched::Program {
    use kiln_sched::{Gemm, LibraryCall, MatrixRef};
    let e = |v: usize| kiln_shape::Expr::int(v as i64);
    let m = |buf| MatrixRef {
        buf,
        offset: e(0),
        batch_strides: Vec::new(),
        row_stride: e(n),
        col_stride: e(1),
    };
    let call = LibraryCall::Gemm(Box::new(Gemm {
        name: format!("gemm_{}_{n}", dtype.name()),
        dtype,
        batch: Vec::new(),
        m: e(n),
        n: e(n),
        k: e(n),
        a: m(0),
        b: m(1),
        c: m(2),
        alpha: 1.0,
        beta: 0.0,
    }));
    library_program(dtype, [n * n; 3], call)
}

/// ResNet-50's 3x3, 64 -> 64 channel convolution on 56x56, padding 1.
fn resnet_conv(dtype: kiln::DType, batch: usize) -> kiln_sched::Program {
    use kiln_sched::{Conv, LibraryCall};
    let e = |v: usize| kiln_shape::Expr::int(v as i64);
    let call = LibraryCall::Conv(Box::new(Conv {
        name: format!("conv2d_3x3_64_56_b{batch}_{}", dtype.name()),
        dtype,
        x: 0,
        w: 1,
        out: 2,
        n: e(batch),
        c_in: e(64),
        c_out: e(64),
        spatial: vec![e(56), e(56)],
        out_spatial: vec![e(56), e(56)],
        kernel: vec![3, 3],
        stride: vec![1, 1],
        padding: vec![1, 1],
        padding_end: vec![1, 1],
        dilation: vec![1, 1],
        groups: 1,
        transposed: false,
        output_padding: vec![0, 0],
    }));
    let act = batch * 64 * 56 * 56;
    library_program(dtype, [act, 64 * 64 * 9, act], call)
}

/// TFLOP/s of cuBLAS GEMMs and of a convolution (no peer runs on the device machine: the rows
/// report kiln's own figure).
fn library_rows(
    dev: &CudaDevice,
    name: &str,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    use kiln::DType;
    let mut cases: Vec<(kiln_sched::Program, f64)> = Vec::new();
    for (dtype, n) in [
        (DType::F32, 4096),
        (DType::F16, 8192),
        (DType::BF16, 8192),
        (DType::F64, 2048),
    ] {
        cases.push((square_gemm(dtype, n), 2.0 * (n as f64).powi(3)));
    }
    for dtype in [DType::F32, DType::F16] {
        cases.push((
            resnet_conv(dtype, 8),
            2.0 * 8.0 * 64.0 * 56.0 * 56.0 * 64.0 * 9.0,
        ));
    }
    for (program, flops) in cases {
        let artifact = kiln_cuda::compile(&program, dev.arch()?.as_str())?;
        let prog = CudaProgram::load(dev, &artifact)?;
        let inputs = program
            .inputs
            .iter()
            .map(|spec| {
                let n = spec.shape[0].as_int().unwrap_or(0) as usize;
                let host: Vec<f64> = (0..n).map(|i| ((i % 17) as f64 - 8.0) / 16.0).collect();
                dev.upload(&kiln::Tensor::from_f64(spec.dtype, &[n], &host))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&kiln_cuda::DeviceTensor> = inputs.iter().collect();
        let ms = prog.time_run_ms(&refs, 10)?;
        let tflops = flops / ms / 1e9;
        let case = &program.graph_name;
        if json {
            println!(
                "{{\"case\": \"library/{case}\", \"device\": \"{name}\", \"ms\": {ms:.3}, \"tflops\": {tflops:.1}, \"reference\": \"none (no peer on the device machine)\"}}"
            );
        } else {
            println!("library {case:<28} {ms:8.3} ms  {tflops:6.1} TFLOP/s  on {name}");
        }
    }
    Ok(())
}
