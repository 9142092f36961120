//! Artifacts: export and load in the same process, in another process, and refusal of
//! artifacts compiled for another ISA or kiln-cpu version; input validation errors.
mod common;

use common::*;
use kiln_cpu::{CpuArtifact, CpuError, RunError};
use kiln_ir::{DType, InputError, Role, Tensor};
use kiln_shape::Policy;

const SRC: &str = "graph a\ninput x: f32[N, C, H, W]\ninput s: f32[C, 1, 1]\n\
    t = mul(x, s)\nr = relu(t)\np = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])\n\
    q = softmax(p, -1)\nf = floor(q)\nc = ceil(t)\noutput q, f, c";

fn inputs() -> Vec<Tensor> {
    vec![
        tensor(DType::F32, &[2, 3, 9, 10], 1, -2.0, 2.0),
        tensor(DType::F32, &[3, 1, 1], 2, -2.0, 2.0),
    ]
}

fn artifact() -> (kiln_cpu::CompiledProgram, CpuArtifact) {
    compile(&parse(SRC), &inputs(), &Policy::Dynamic)
}

#[test]
fn loaded_artifact_computes_the_same() {
    let (compiled, art) = artifact();
    let bytes = postcard::to_allocvec(&art).expect("serialize");
    let back: CpuArtifact = postcard::from_bytes(&bytes).expect("deserialize");
    assert_eq!(back, art);
    let loaded = kiln_cpu::load(back).expect("load");
    let ins = inputs();
    let refs: Vec<&Tensor> = ins.iter().collect();
    assert_eq!(compiled.run(&refs).unwrap(), loaded.run(&refs).unwrap());
    compare(&parse(SRC), &loaded, &ins, SRC);
}

const CHILD_ENV: &str = "KILN_CPU_ARTIFACT_CHILD";

/// Run by the child process: load the artifact file, compute, write the outputs.
#[test]
fn child_mode_loads_artifact() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let bytes = std::fs::read(&path).expect("read artifact");
    let art: CpuArtifact = postcard::from_bytes(&bytes).expect("decode artifact");
    let loaded = kiln_cpu::load(art).expect("load in child");
    let ins = inputs();
    let refs: Vec<&Tensor> = ins.iter().collect();
    let out = loaded.run(&refs).expect("run in child");
    let flat: Vec<Vec<u8>> = out.into_iter().map(|t| t.data.into_vec()).collect();
    std::fs::write(format!("{path}.out"), postcard::to_allocvec(&flat).unwrap()).unwrap();
}

#[test]
fn artifact_loads_in_another_process() {
    let (compiled, art) = artifact();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernel.art");
    std::fs::write(&path, postcard::to_allocvec(&art).unwrap()).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_mode_loads_artifact", "--exact", "--nocapture"])
        .env(CHILD_ENV, &path)
        .status()
        .expect("spawn child");
    assert!(status.success(), "child failed: {status}");
    let out = std::fs::read(format!("{}.out", path.display())).expect("child output");
    let child: Vec<Vec<u8>> = postcard::from_bytes(&out).unwrap();
    let ins = inputs();
    let refs: Vec<&Tensor> = ins.iter().collect();
    let here: Vec<Vec<u8>> = compiled
        .run(&refs)
        .unwrap()
        .into_iter()
        .map(|t| t.data.into_vec())
        .collect();
    assert_eq!(child, here);
}

#[test]
fn refuses_other_isa_flags_and_versions() {
    let (_, art) = artifact();
    let mut other_flags = art.clone();
    other_flags
        .isa
        .flags
        .push_str(",has_imaginary_feature=true");
    assert!(matches!(
        kiln_cpu::load(other_flags),
        Err(CpuError::IsaMismatch { .. })
    ));
    let mut other_triple = art.clone();
    other_triple.isa.triple = "riscv64gc-unknown-linux-gnu".to_string();
    assert!(matches!(
        kiln_cpu::load(other_triple),
        Err(CpuError::IsaMismatch { .. })
    ));
    let mut other_version = art.clone();
    other_version.kiln_cpu_version = "0.0.0-other".to_string();
    let err = kiln_cpu::load(other_version).err().expect("refused");
    assert!(matches!(err, CpuError::VersionMismatch { .. }), "{err}");
    assert!(err.to_string().contains("0.0.0-other"));
    let mut truncated = art.clone();
    truncated.kernels.pop();
    assert!(matches!(
        kiln_cpu::load(truncated),
        Err(CpuError::KernelCount { .. })
    ));
    // The target id is the ISA's plus the GEMM library's and Cranelift's versions.
    let target = kiln_cpu::target_id().unwrap();
    assert!(
        target.starts_with(&format!("{}|gemm-", art.isa.id())) && target.contains("|cranelift-"),
        "{target}"
    );
}

/// The machine code indexes buffers as the artifact's program says: a program that names a
/// buffer it does not declare is refused before any code is installed.
#[test]
fn refuses_an_artifact_whose_program_is_malformed() {
    let (_, mut art) = artifact();
    art.program.kernels[0].stores[0].buf = 1000;
    let err = kiln_cpu::load(art).err().expect("refused");
    assert!(
        matches!(
            err,
            CpuError::BadProgram(kiln_sched::VerifyError::UndeclaredBuffer { buf: 1000, .. })
        ),
        "{err}"
    );
}

#[test]
fn emit_clif_prints_every_kernel() {
    let (compiled, _) = artifact();
    let text = kiln_cpu::emit_clif(compiled.program());
    assert_eq!(
        text.matches("; kernel ").count(),
        compiled.program().kernels.len()
    );
    assert!(text.contains("function"), "{text}");
    assert!(!text.contains("; error"), "{text}");
}

#[test]
fn validation_errors_name_the_problem() {
    let (compiled, _) = artifact();
    let good = inputs();
    let run = |ins: &[Tensor]| {
        let refs: Vec<&Tensor> = ins.iter().collect();
        compiled.run(&refs).expect_err("expected an error")
    };
    assert_eq!(
        run(&good[..1]),
        RunError::Input(InputError::Count {
            role: Role::Input,
            expected: 2,
            found: 1
        })
    );
    let mut wrong_dtype = good.clone();
    wrong_dtype[0] = tensor(DType::F64, &[2, 3, 9, 10], 1, 0.0, 1.0);
    assert!(
        matches!(run(&wrong_dtype), RunError::Input(InputError::Dtype { ref name, .. }) if name == "x")
    );
    let mut wrong_rank = good.clone();
    wrong_rank[1] = tensor(DType::F32, &[3, 1], 1, 0.0, 1.0);
    assert!(matches!(
        run(&wrong_rank),
        RunError::Input(InputError::Rank {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let mut wrong_dim = good.clone();
    wrong_dim[1] = tensor(DType::F32, &[3, 2, 1], 1, 0.0, 1.0);
    assert!(
        matches!(
            run(&wrong_dim),
            RunError::Input(InputError::Dim {
                dim: 1,
                found: 2,
                ..
            })
        ),
        "{}",
        run(&wrong_dim)
    );
    let mut inconsistent = good.clone();
    inconsistent[1] = tensor(DType::F32, &[4, 1, 1], 1, 0.0, 1.0);
    let e = run(&inconsistent);
    assert!(
        matches!(e, RunError::Input(InputError::Conflict { ref symbol, first_value: 3, second_value: 4, .. }) if symbol == "C"),
        "{e}"
    );
    assert!(
        e.to_string().contains("`x` dim 1") && e.to_string().contains("`s` dim 0"),
        "{e}"
    );
    let mut short = good.clone();
    let n = short[0].data.len();
    short[0].data.truncate(n - 1);
    assert!(matches!(
        run(&short),
        RunError::Input(InputError::Bytes { .. })
    ));

    let refs: Vec<&Tensor> = good.iter().collect();
    let mut outs = compiled.run(&refs).unwrap();
    outs[0].shape[3] += 1;
    let e = compiled
        .run_into(&refs, &mut outs)
        .expect_err("bad output shape");
    assert!(
        matches!(
            e,
            RunError::Input(InputError::Dim {
                role: Role::Output,
                ..
            })
        ),
        "{e}"
    );
    let mut outs = compiled.run(&refs).unwrap();
    outs.pop();
    assert!(matches!(
        compiled.run_into(&refs, &mut outs),
        Err(RunError::Input(InputError::Count {
            role: Role::Output,
            ..
        }))
    ));
}

#[test]
fn run_into_reuses_outputs() {
    let (compiled, _) = artifact();
    let ins = inputs();
    let refs: Vec<&Tensor> = ins.iter().collect();
    let want = compiled.run(&refs).unwrap();
    let mut outs: Vec<Tensor> = want
        .iter()
        .map(|t| Tensor::zeros(t.dtype, &t.shape))
        .collect();
    for _ in 0..3 {
        compiled.run_into(&refs, &mut outs).unwrap();
        assert_eq!(outs, want);
    }
}

/// `run_bound` trusts the caller's checks, not its bindings: symbols bound larger than the
/// tensors behind them are refused before any kernel runs (the buffer size check), and the
/// right bindings compute what `run` does.
#[test]
fn run_bound_refuses_bindings_its_buffers_cannot_serve() {
    let (compiled, _) = artifact();
    let good = inputs();
    let refs: Vec<&Tensor> = good.iter().collect();
    let mut right = kiln_shape::Bindings::new();
    for (sym, v) in [("N", 2), ("C", 3), ("H", 9), ("W", 10)] {
        right.insert(sym, v);
    }
    assert_eq!(
        compiled.run_bound(&refs, &right).expect("runs"),
        compiled.run(&refs).expect("runs")
    );
    let mut wrong = right.clone();
    wrong.insert("H", 90);
    match compiled.run_bound(&refs, &wrong) {
        Err(RunError::Size { msg, .. }) => assert!(msg.contains("bytes"), "{msg}"),
        Err(RunError::Access(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
}
