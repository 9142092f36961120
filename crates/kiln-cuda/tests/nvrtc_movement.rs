//! The CUDA C generated for the data movement ops (cat kernels storing into output slices,
//! clamped pad loads with an index select, reflect/replicate min/max index arithmetic,
//! strided slices, repeat's modulo) compiles with NVRTC, for every dtype and both index
//! widths. Needs libnvrtc (no GPU): without it the test prints one skip line and returns.
mod common;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use common::{Case, schedule_case, wide_index};
use kiln_cuda::nvrtc::{Arch, compile_source};
use kiln_cuda::{generate, nvrtc_available};
use kiln_sched::SchedOptions;

const BODIES: &[&str] = &[
    "input x: D[N, C]\ninput y: D[M, C]\nc = cat([x, y, x])\ns = stack([x, x], dim=-1)\noutput c, s",
    "input x: D[N, C, W]\np = pad(x, [2, 1, 0, 1], value=1.0)\nq = slice(x, dim=2, start=1, step=2)\n\
     t = select(q, 1, -1)\nr = repeat(t, [2, 3])\na, b = chunk(x, 2, dim=2)\nn = narrow(x, 2, -2, 2)\n\
     output p, r, a, b, n",
    "input x: D[N, C, W]\nr = pad(x, [2, 3], mode=\"reflect\")\ne = pad(x, [1, 1, 2, 0], mode=\"replicate\")\n\
     output r, e",
];

#[test]
fn movement_kernels_compile_with_nvrtc() {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return;
    }
    let arch = Arch::parse("sm_90").expect("valid arch");
    let mut failures = Vec::new();
    for (i, body) in BODIES.iter().enumerate() {
        for dtype in ["f32", "f64", "f16", "bf16", "bool"] {
            if dtype == "bool" && body.contains("mode=") {
                continue; // refused, as PyTorch refuses it
            }
            let case = Case {
                name: format!("movement{i}_{dtype}"),
                src: format!("graph g\n{}", body.replace("D[", &format!("{dtype}["))),
                shapes: if body.contains("input y") {
                    vec![vec![4, 3], vec![2, 3]]
                } else {
                    vec![vec![2, 3, 6]]
                },
            };
            for opts in [SchedOptions::default(), wide_index()] {
                let (_, program) = schedule_case(&case, &opts).unwrap_or_else(|e| panic!("{e}"));
                let src = generate(&program).unwrap_or_else(|e| panic!("{}: {e}", case.name));
                if let Err(e) = compile_source(&src, &arch) {
                    failures.push(format!("{}: {e}\n{}", case.name, src.numbered()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
