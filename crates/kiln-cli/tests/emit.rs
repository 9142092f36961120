//! `kiln compile --emit`: kernel IR, Cranelift IR and CUDA C anywhere; PTX where libnvrtc is.
mod common;

use common::*;

fn emit(s: &Scratch, what: &str) -> std::process::Output {
    let g = example_graph("pool_relu").display().to_string();
    s.kiln(&[
        "compile",
        &g,
        "--shape",
        "x=2x4x8x8",
        "--shape",
        "s=1x4x1x1",
        "--emit",
        what,
    ])
}

#[test]
fn emits_kernel_ir_clif_and_cuda_without_a_gpu() {
    let s = Scratch::new();
    let ir = emit(&s, "kernel-ir");
    let text = ok(&ir);
    assert!(!text.trim().is_empty());
    // The summary goes to stderr so that stdout is only code.
    assert!(stderr(&ir).contains("graph `pool_relu`"), "{}", stderr(&ir));
    assert!(!text.contains("graph `pool_relu` for"), "{text}");
    let clif = ok(&emit(&s, "clif"));
    assert!(clif.contains("function"), "{clif}");
    let cuda = ok(&emit(&s, "cuda"));
    assert!(cuda.contains("__global__"), "{cuda}");
}

#[test]
fn emits_ptx_when_nvrtc_is_present() {
    let s = Scratch::new();
    let o = emit(&s, "ptx");
    if !kiln_cuda::nvrtc_available() {
        let err = fails(&o, 1);
        assert!(err.contains("libnvrtc"), "{err}");
        println!("skipping the PTX assertion: libnvrtc cannot be loaded here");
        return;
    }
    let ptx = ok(&o);
    assert!(ptx.contains(".entry") && ptx.contains("sm_90"), "{ptx}");
}
