//! Every op's scheduled program verifies (scheduling runs `Program::verify`), and a CUDA
//! artifact whose program is malformed is refused before its cubin would be loaded. Needs
//! neither NVRTC nor a GPU.
mod common;

use common::*;
use kiln_cuda::{CudaArtifact, CudaError};
use kiln_sched::{SchedOptions, VerifyError};

#[test]
fn every_case_schedules_to_a_verified_program() {
    for opts in [SchedOptions::default(), wide_index()] {
        for c in all_cases() {
            let (_, p) = schedule_case(&c, &opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            p.verify().unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
    }
}

#[test]
fn an_artifact_with_a_malformed_program_is_refused() {
    let c = all_cases().into_iter().next().expect("a case");
    let (_, program) = schedule_case(&c, &SchedOptions::default()).expect("schedules");
    let mut artifact = CudaArtifact {
        kiln_cuda_version: env!("CARGO_PKG_VERSION").into(),
        codegen_version: 0,
        nvrtc_version: (0, 0),
        arch: "sm_90".into(),
        kernel_names: program.kernels.iter().map(|k| k.name.clone()).collect(),
        program,
        cubin: Vec::new(),
    };
    artifact.verify().expect("a well-formed program passes");
    artifact.program.kernels[0].index_bits = 7;
    let err = artifact.verify().expect_err("refused");
    assert!(
        matches!(
            err,
            CudaError::BadProgram(VerifyError::IndexBits { bits: 7, .. })
        ),
        "{err}"
    );
    artifact.program.kernels[0].index_bits = 32;
    artifact.kernel_names.pop();
    assert!(matches!(artifact.verify(), Err(CudaError::Codegen { .. })));
}
