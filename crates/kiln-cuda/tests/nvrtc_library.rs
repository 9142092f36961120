//! Library steps without a GPU: hand-built GEMM and convolution programs verify, prove their
//! accesses, generate their helper kernels (im2col, depthwise, k = 0 GEMM) for their dtypes,
//! compile with NVRTC to PTX and an sm_90 cubin, and round-trip through the artifact; libcublas
//! is found the way libnvrtc is, and its version joins the target id. Tests that need NVRTC or
//! libcublas print one skip line without them.
mod library_support;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use kiln_cuda::{CudaArtifact, compile, cublas_library, cublas_version, generate, nvrtc_available};
use kiln_ir::DType;
use kiln_sched::Program;
use library_support::*;

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn programs() -> Vec<Program> {
    let mut out = Vec::new();
    for d in DTYPES {
        for c in gemm_cases() {
            out.push(gemm_program(&c, d));
            out.push(accumulate_program(&c, d));
        }
        for c in conv_cases() {
            out.push(conv_program(&c, d));
        }
    }
    out
}

#[test]
fn hand_built_library_programs_verify_and_prove_their_accesses() {
    for p in programs() {
        p.verify()
            .unwrap_or_else(|e| panic!("{}: {e}", p.graph_name));
        p.check_accesses(&[])
            .unwrap_or_else(|e| panic!("{}: {e}", p.graph_name));
    }
}

#[test]
fn units_with_library_steps_carry_helpers_for_their_dtypes_only() {
    let c = &conv_cases()[0];
    let src = generate(&conv_program(c, DType::BF16)).expect("generates");
    assert_eq!(
        src.entries,
        [
            "kiln_im2col_bf16",
            "kiln_depthwise_bf16",
            "kiln_gemm_k0_bf16"
        ]
    );
    assert!(
        src.code
            .contains("KILN_LIBRARY_HELPERS(bf16, kiln_bf16, float")
    );
    assert!(src.headers.iter().any(|(n, _)| n == "kiln_library.cuh"));
    assert!(src.kernel_names.is_empty());
    let mut p = conv_program(c, DType::F32);
    p.steps
        .extend(gemm_program(&gemm_cases()[0], DType::F32).steps);
    let src = generate(&p).expect("generates");
    assert_eq!(src.entries.len(), 3, "{:?}", src.entries);
}

#[test]
fn helper_kernels_compile_to_ptx_and_a_cubin_for_every_dtype() {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return;
    }
    for d in DTYPES {
        let p = conv_program(&conv_cases()[1], d);
        let src = generate(&p).expect("generates");
        let arch = kiln_cuda::Arch::parse("sm_90").expect("arch");
        let out =
            kiln_cuda::nvrtc::compile_source(&src, &arch).unwrap_or_else(|e| panic!("{d}: {e}"));
        for e in &src.entries {
            assert!(
                out.ptx.contains(&format!(".entry {e}(")),
                "{d}: no {e} in the PTX"
            );
        }
        assert_eq!(&out.cubin[..4], b"\x7fELF", "{d}: cubin is an ELF");
    }
}

#[test]
fn library_programs_round_trip_through_the_artifact() {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return;
    }
    let mut p = conv_program(&conv_cases()[4], DType::F16);
    p.steps
        .extend(gemm_program(&gemm_cases()[1], DType::F16).steps);
    let art = compile(&p, "sm_90").expect("compiles");
    art.verify().expect("verifies");
    assert!(art.kernel_names.is_empty());
    let bytes = postcard::to_stdvec(&art).expect("serializes");
    let back: CudaArtifact = postcard::from_bytes(&bytes).expect("deserializes");
    assert_eq!(back, art);
    assert_eq!(back.program.steps, p.steps);
    back.verify().expect("verifies after the round trip");
}

#[test]
fn libcublas_is_found_like_libnvrtc_and_names_its_version_in_the_target_id() {
    let id = kiln_cuda::target_id("sm_90");
    match cublas_library() {
        Ok(source) => {
            let (major, minor, patch) = cublas_version().expect("a loaded cuBLAS has a version");
            assert!(major >= 11, "cuBLAS {major}.{minor}.{patch} from {source}");
            assert!(
                id.ends_with(&format!("-cublas-{major}.{minor}.{patch}")),
                "{id}"
            );
        }
        Err(tried) => {
            assert!(id.ends_with("-cublas-none"), "{id}");
            assert!(!tried.is_empty());
            skip_support::skip("libcublas not found (pip install nvidia-cublas)");
        }
    }
}

#[test]
fn a_dynamic_batch_is_proved_at_each_launch_size() {
    let p = dynamic_linear_program(DType::F32, 3, 4, 5);
    p.verify().expect("verifies");
    for n in [0, 1, 7] {
        p.check_accesses(&[n])
            .unwrap_or_else(|e| panic!("N={n}: {e}"));
    }
    assert!(
        p.check_accesses(&[-1]).is_err(),
        "a negative batch is refused"
    );
}
