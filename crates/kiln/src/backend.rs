//! The backends behind one interface: compile a program to an executable and artifact bytes,
//! load artifact bytes, name the target for the cache key.
use std::sync::{Arc, OnceLock};

use kiln_ir::Tensor;
use kiln_sched::Program;

use crate::error::KilnError;
use crate::options::Backend;

/// Compiled code for one specialisation, ready to run.
pub enum Executable {
    Cpu(kiln_cpu::CompiledProgram),
}

impl Executable {
    pub fn program(&self) -> &Program {
        match self {
            Executable::Cpu(p) => p.program(),
        }
    }
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        match self {
            Executable::Cpu(p) => p.run(inputs).map_err(|e| KilnError::Cpu(e.to_string())),
        }
    }
    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        match self {
            Executable::Cpu(p) => p
                .run_into(inputs, outputs)
                .map_err(|e| KilnError::Cpu(e.to_string())),
        }
    }
}

/// The version of the artifact format inside cache entries, per backend.
pub const ARTIFACT_FORMAT: u32 = 1;

/// The target a backend generates code for (part of the key and of each entry's header).
pub fn target_id(backend: Backend) -> Result<String, KilnError> {
    match backend {
        Backend::Cpu => {
            // Probing the host ISA costs more than a cache hit: do it once per process.
            static CPU: OnceLock<Result<String, String>> = OnceLock::new();
            CPU.get_or_init(|| kiln_cpu::target_id().map_err(|e| e.to_string()))
                .clone()
                .map_err(KilnError::Cpu)
        }
        Backend::Cuda => Err(unavailable_cuda()),
    }
}

fn unavailable_cuda() -> KilnError {
    KilnError::BackendUnavailable {
        backend: "cuda",
        reason: "kiln was built without CUDA driver support in this version".into(),
    }
}

/// Generates code for `program`; returns the executable and its artifact bytes.
pub fn compile(
    backend: Backend,
    program: &Program,
) -> Result<(Arc<Executable>, Vec<u8>), KilnError> {
    match backend {
        Backend::Cpu => {
            let (exec, artifact) =
                kiln_cpu::compile(program).map_err(|e| KilnError::Cpu(e.to_string()))?;
            let bytes = postcard::to_stdvec(&artifact)
                .map_err(|e| KilnError::Cpu(format!("cannot serialise the artifact: {e}")))?;
            Ok((Arc::new(Executable::Cpu(exec)), bytes))
        }
        Backend::Cuda => Err(unavailable_cuda()),
    }
}

/// Loads artifact bytes from a cache entry (no scheduling, no codegen).
pub fn load(backend: Backend, bytes: &[u8]) -> Result<Arc<Executable>, KilnError> {
    match backend {
        Backend::Cpu => {
            let artifact: kiln_cpu::CpuArtifact = postcard::from_bytes(bytes)
                .map_err(|e| KilnError::Cpu(format!("undecodable artifact: {e}")))?;
            let exec = kiln_cpu::load(&artifact).map_err(|e| KilnError::Cpu(e.to_string()))?;
            Ok(Arc::new(Executable::Cpu(exec)))
        }
        Backend::Cuda => Err(unavailable_cuda()),
    }
}
