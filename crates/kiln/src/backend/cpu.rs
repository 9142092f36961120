//! The CPU backend: Cranelift machine code for the host, artifacts that load without Cranelift.
use std::sync::{Arc, OnceLock};

use kiln_cpu::{CompiledProgram, CpuArtifact};
use kiln_ir::Tensor;
use kiln_sched::Program;
use kiln_shape::Bindings;

use kiln_sched::ArtifactDigest;

use super::{
    BackendImpl, Emit, EmitOptions, Executable, Runnable, artifact_digest, decode, encode,
};
use crate::error::KilnError;

pub(super) struct Cpu;

impl BackendImpl for Cpu {
    fn target_id(&self) -> Result<String, KilnError> {
        // Probing the host ISA costs more than a cache hit: do it once per process.
        static CPU: OnceLock<Result<String, String>> = OnceLock::new();
        CPU.get_or_init(|| kiln_cpu::target_id().map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| KilnError::BackendUnavailable {
                backend: "cpu",
                reason,
            })
    }

    fn compile(&self, program: &Program) -> Result<(Arc<Executable>, Vec<u8>), KilnError> {
        let (exec, artifact) = kiln_cpu::compile(program)?;
        let bytes = encode(&artifact, "cpu")?;
        let exec = exec.with_artifact_digest(artifact_digest(&bytes));
        Ok((Executable::new(exec), bytes))
    }

    fn load(&self, bytes: &[u8], digest: ArtifactDigest) -> Result<Arc<Executable>, KilnError> {
        let artifact: CpuArtifact = decode(bytes, "cpu")?;
        // kiln_cpu::load verifies the artifact's program before installing its code.
        let exec = kiln_cpu::load(artifact)?;
        Ok(Executable::new(exec.with_artifact_digest(digest)))
    }

    fn emits(&self) -> &'static [Emit] {
        &[Emit::Clif]
    }

    fn emit(&self, program: &Program, what: Emit, _: &EmitOptions) -> Result<String, KilnError> {
        match what {
            Emit::Clif => Ok(kiln_cpu::emit_clif(program)),
            other => Err(KilnError::Emit {
                what: other.name(),
                reason: "the cpu backend does not emit it".into(),
            }),
        }
    }
}

impl Runnable for CompiledProgram {
    fn program(&self) -> &Program {
        CompiledProgram::program(self)
    }

    fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        CompiledProgram::prove_accesses(self, syms)
    }

    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        Ok(CompiledProgram::run(self, inputs)?)
    }

    fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        Ok(CompiledProgram::run_into(self, inputs, outputs)?)
    }

    fn run_bound(&self, inputs: &[&Tensor], b: &Bindings) -> Result<Vec<Tensor>, KilnError> {
        Ok(CompiledProgram::run_bound(self, inputs, b)?)
    }

    fn run_into_bound(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        b: &Bindings,
    ) -> Result<(), KilnError> {
        Ok(CompiledProgram::run_into_bound(self, inputs, outputs, b)?)
    }
}
