//! The backends behind one interface: compile a program to an executable and artifact bytes,
//! load artifact bytes, name the target for the cache key.
use std::sync::{Arc, OnceLock};

use kiln_cuda::{CudaArtifact, CudaDevice, CudaProgram};
use kiln_ir::Tensor;
use kiln_sched::Program;

use crate::error::KilnError;
use crate::options::Backend;

/// Compiled code for one specialisation, ready to run.
pub enum Executable {
    Cpu(Box<kiln_cpu::CompiledProgram>),
    Cuda(Box<CudaProgram>),
}

impl Executable {
    pub fn program(&self) -> &Program {
        match self {
            Executable::Cpu(p) => p.program(),
            Executable::Cuda(p) => p.program(),
        }
    }

    /// Proves every kernel access in bounds at these symbol values, as the launcher does
    /// before its first run at them (and then does not repeat).
    pub fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        match self {
            Executable::Cpu(p) => p.prove_accesses(syms),
            Executable::Cuda(p) => p.prove_accesses(syms),
        }
    }

    /// Runs on host tensors (CUDA: upload, run, download).
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        match self {
            Executable::Cpu(p) => p.run(inputs).map_err(|e| KilnError::Cpu(e.to_string())),
            Executable::Cuda(p) => p
                .run_host(inputs)
                .map_err(|e| KilnError::Cuda(e.to_string())),
        }
    }

    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        match self {
            Executable::Cpu(p) => p
                .run_into(inputs, outputs)
                .map_err(|e| KilnError::Cpu(e.to_string())),
            Executable::Cuda(p) => {
                let results = p
                    .run_host(inputs)
                    .map_err(|e| KilnError::Cuda(e.to_string()))?;
                if results.len() != outputs.len() {
                    return Err(KilnError::Cuda(format!(
                        "expected {} outputs, found {}",
                        results.len(),
                        outputs.len()
                    )));
                }
                for (i, (r, o)) in results.into_iter().zip(outputs.iter_mut()).enumerate() {
                    if r.dtype != o.dtype || r.shape != o.shape {
                        return Err(KilnError::Cuda(format!(
                            "output {i}: expected {}{:?}, found {}{:?}",
                            r.dtype, r.shape, o.dtype, o.shape
                        )));
                    }
                    *o = r;
                }
                Ok(())
            }
        }
    }
}

/// The version of the artifact format inside cache entries, per backend.
pub const ARTIFACT_FORMAT: u32 = 1;

/// The first GPU, opened once per process.
fn cuda_device() -> Result<&'static CudaDevice, KilnError> {
    static DEVICE: OnceLock<Result<CudaDevice, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| CudaDevice::new(0).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| KilnError::BackendUnavailable {
            backend: "cuda",
            reason: reason.clone(),
        })
}

fn cuda_arch() -> Result<String, KilnError> {
    let dev = cuda_device()?;
    dev.arch()
        .map(|a| a.to_string())
        .map_err(|e| KilnError::Cuda(e.to_string()))
}

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
        Backend::Cuda => {
            static CUDA: OnceLock<Result<String, String>> = OnceLock::new();
            CUDA.get_or_init(|| {
                cuda_arch()
                    .map(|a| kiln_cuda::target_id(&a))
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| KilnError::BackendUnavailable {
                backend: "cuda",
                reason,
            })
        }
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
            Ok((Arc::new(Executable::Cpu(Box::new(exec))), bytes))
        }
        Backend::Cuda => {
            let device = cuda_device()?;
            let artifact = kiln_cuda::compile(program, &cuda_arch()?)
                .map_err(|e| KilnError::Cuda(e.to_string()))?;
            let exec =
                CudaProgram::load(device, &artifact).map_err(|e| KilnError::Cuda(e.to_string()))?;
            let bytes = postcard::to_stdvec(&artifact)
                .map_err(|e| KilnError::Cuda(format!("cannot serialise the artifact: {e}")))?;
            Ok((Arc::new(Executable::Cuda(Box::new(exec))), bytes))
        }
    }
}

/// Loads artifact bytes from a cache entry (no scheduling, no codegen, no NVRTC).
pub fn load(backend: Backend, bytes: &[u8]) -> Result<Arc<Executable>, KilnError> {
    match backend {
        Backend::Cpu => {
            let artifact: kiln_cpu::CpuArtifact = postcard::from_bytes(bytes)
                .map_err(|e| KilnError::Cpu(format!("undecodable artifact: {e}")))?;
            let exec = kiln_cpu::load(&artifact).map_err(|e| KilnError::Cpu(e.to_string()))?;
            Ok(Arc::new(Executable::Cpu(Box::new(exec))))
        }
        Backend::Cuda => {
            let artifact: CudaArtifact = postcard::from_bytes(bytes)
                .map_err(|e| KilnError::Cuda(format!("undecodable artifact: {e}")))?;
            let arch = cuda_arch()?;
            if artifact.arch != arch {
                return Err(KilnError::Cuda(format!(
                    "artifact built for {}, this GPU is {arch}",
                    artifact.arch
                )));
            }
            let exec = CudaProgram::load(cuda_device()?, &artifact)
                .map_err(|e| KilnError::Cuda(e.to_string()))?;
            Ok(Arc::new(Executable::Cuda(Box::new(exec))))
        }
    }
}
