//! The CUDA C generated for the gradient family (a `sum_to` reduction fused with its producer,
//! `expand_as`/`reshape_as` index rewrites, `slice_scatter`'s copy and strided store) compiles
//! with NVRTC for every float dtype and both index widths, and, on a GPU, matches the
//! interpreter. Needs libnvrtc (no GPU for the compile): without it, or without a device for
//! the run, each test prints one skip line and returns.
mod common;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use common::{Case, close, inputs_for, schedule_case, tolerance, wide_index};
use kiln_cuda::nvrtc::{Arch, compile_source};
use kiln_cuda::{CudaDevice, CudaProgram, compile, generate, nvrtc_available};
use kiln_ir::Tensor;
use kiln_sched::SchedOptions;

const BODIES: &[(&str, &[&[i64]])] = &[
    (
        "input x: D[N, C]\ninput b: D[C]\ny = add(x, b)\ne = exp(y)\ns = sum_to(e, b)\n\
         t = mul(s, 0.5)\noutput t",
        &[&[5, 3], &[3]],
    ),
    (
        "input x: D[N, C, H]\ninput m: D[C, 1]\nr = relu(x)\ns = sum_to(r, m)\n\
         u = expand_as(s, x)\nv = reshape_as(u, x)\noutput s, v",
        &[&[2, 3, 4], &[3, 1]],
    ),
    (
        "input x: D[N, C]\ninput s: D[N, 2]\nr = relu(x)\n\
         y = slice_scatter(r, s, dim=1, start=1, end=5, step=2)\nq = select(r, 0, 0)\n\
         z = select_scatter(y, q, 0, -1)\n\
         output z",
        &[&[3, 6], &[3, 2]],
    ),
];

fn cases() -> Vec<Case> {
    let mut out = vec![];
    for (i, (body, shapes)) in BODIES.iter().enumerate() {
        for dtype in ["f32", "f64", "f16", "bf16"] {
            out.push(Case {
                name: format!("grad{i}_{dtype}"),
                src: format!("graph g\n{}", body.replace("D[", &format!("{dtype}["))),
                shapes: shapes.iter().map(|s| s.to_vec()).collect(),
            });
        }
    }
    out
}

#[test]
fn gradient_family_kernels_compile_with_nvrtc() {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return;
    }
    let arch = Arch::parse("sm_90").expect("valid arch");
    let mut failures = Vec::new();
    for case in cases() {
        for opts in [SchedOptions::default(), wide_index()] {
            let (_, program) = schedule_case(&case, &opts).unwrap_or_else(|e| panic!("{e}"));
            let src = generate(&program).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            if let Err(e) = compile_source(&src, &arch) {
                failures.push(format!("{}: {e}\n{}", case.name, src.numbered()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn gradient_family_matches_the_interpreter_on_a_gpu() {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return;
    }
    let dev = match CudaDevice::new(0) {
        Ok(d) => d,
        Err(e) => {
            skip_support::skip(&e.to_string());
            return;
        }
    };
    let arch = dev.arch().expect("device arch");
    let mut failures = Vec::new();
    for case in cases() {
        let (g, program) = schedule_case(&case, &SchedOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let art = compile(&program, arch.as_str()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let prog = CudaProgram::load(&dev, &art).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let inputs = inputs_for(&g, &case.shapes);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = kiln_ir::interpret(&g, &inputs).expect("the interpreter runs it");
        match prog.run_host(&refs) {
            Ok(got) => {
                for (i, (gt, wt)) in got.iter().zip(&want).enumerate() {
                    if let Err(e) = close(&gt.to_f64(), &wt.to_f64(), tolerance(wt.dtype)) {
                        failures.push(format!("{} output {i}: {e}", case.name));
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
