//! The CUDA backend: CUDA C compiled by NVRTC to a cubin for the first GPU's architecture.
//!
//! Only compiling for the cache and running need the driver and a GPU; emitting CUDA C needs
//! nothing and PTX only NVRTC, for any `--arch`.
use std::sync::{Arc, OnceLock};

use kiln_cuda::{Arch, CudaArtifact, CudaDevice, CudaProgram};
use kiln_ir::input_error::{check_dtype, check_shape};
use kiln_ir::{InputError, Role, Tensor};
use kiln_sched::{ArtifactDigest, Program};
use kiln_shape::Bindings;

use super::{BackendImpl, Emit, EmitOptions, Executable, Runnable, decode, encode};
use crate::error::KilnError;

pub(super) struct Cuda;

fn unavailable(reason: &str) -> KilnError {
    KilnError::BackendUnavailable {
        backend: "cuda",
        reason: reason.to_string(),
    }
}

/// The first GPU, opened once per process; the error is why there is none.
fn device() -> Result<&'static CudaDevice, KilnError> {
    static DEVICE: OnceLock<Result<CudaDevice, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| CudaDevice::new(0).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| unavailable(reason))
}

/// The first GPU's architecture (`sm_90`), asked once per process.
fn device_arch() -> Result<String, KilnError> {
    static ARCH: OnceLock<Result<String, String>> = OnceLock::new();
    let arch = ARCH.get_or_init(|| match device() {
        Ok(dev) => dev.arch().map(|a| a.to_string()).map_err(|e| e.to_string()),
        // Keep only the reason: it is wrapped once, below.
        Err(KilnError::BackendUnavailable { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    });
    arch.clone().map_err(|reason| unavailable(&reason))
}

impl BackendImpl for Cuda {
    fn target_id(&self) -> Result<String, KilnError> {
        Ok(kiln_cuda::target_id(&device_arch()?))
    }

    fn compile(&self, program: &Program) -> Result<(Arc<Executable>, Vec<u8>), KilnError> {
        let device = device()?;
        let artifact = kiln_cuda::compile(program, &device_arch()?)?;
        let exec = CudaProgram::load(device, &artifact)?;
        let bytes = encode(&artifact, "cuda")?;
        Ok((Executable::new(exec), bytes))
    }

    fn load(&self, bytes: &[u8], _digest: ArtifactDigest) -> Result<Arc<Executable>, KilnError> {
        let artifact: CudaArtifact = decode(bytes, "cuda")?;
        artifact.verify()?;
        let arch = device_arch()?;
        if artifact.arch != arch {
            return Err(kiln_cuda::CudaError::ArchMismatch {
                artifact_arch: artifact.arch.clone(),
                device_arch: arch,
            }
            .into());
        }
        let exec = CudaProgram::load(device()?, &artifact)?;
        Ok(Executable::new(exec))
    }

    fn emits(&self) -> &'static [Emit] {
        &[Emit::CudaC, Emit::Ptx]
    }

    fn emit(&self, program: &Program, what: Emit, opts: &EmitOptions) -> Result<String, KilnError> {
        let emit_err = |reason: String| KilnError::Emit {
            what: what.name(),
            reason,
        };
        let source = || {
            kiln_cuda::generate(program).map_err(|e| emit_err(format!("CUDA code generation: {e}")))
        };
        match what {
            Emit::CudaC => Ok(source()?.code),
            Emit::Ptx => {
                let arch = opts
                    .arch
                    .as_deref()
                    .ok_or_else(|| emit_err("PTX needs a GPU architecture (`sm_90`)".into()))?;
                let arch = Arch::parse(arch).map_err(|_| KilnError::InvalidArch {
                    arch: arch.to_string(),
                })?;
                if let Err(tried) = kiln_cuda::nvrtc_library() {
                    return Err(emit_err(format!(
                        "PTX needs NVRTC, but no libnvrtc loads (tried {} {}; `kiln doctor` \
                         lists them): `pip install nvidia-cuda-nvrtc` into the active Python \
                         environment, or set KILN_NVRTC=/path/to/libnvrtc.so.N; CUDA C needs \
                         no library",
                        tried.len(),
                        if tried.len() == 1 { "place" } else { "places" }
                    )));
                }
                let src = source()?;
                kiln_cuda::nvrtc::compile_source(&src, &arch)
                    .map(|c| c.ptx)
                    .map_err(|e| nvrtc_error(e, &src, emit_err))
            }
            other => Err(KilnError::Emit {
                what: other.name(),
                reason: "the cuda backend does not emit it".into(),
            }),
        }
    }
}

/// NVRTC's rejection as a typed error whose message is one line; the log and the numbered
/// source travel in `details`.
fn nvrtc_error(
    e: kiln_cuda::CudaError,
    src: &kiln_cuda::CudaSource,
    other: impl Fn(String) -> KilnError,
) -> KilnError {
    match e {
        kiln_cuda::CudaError::Compile {
            program,
            arch,
            status,
            log,
            ..
        } => KilnError::NvrtcRejected {
            program,
            arch,
            status,
            details: format!("{log}\n\n{}", src.numbered()),
        },
        e => other(format!("NVRTC: {e}")),
    }
}

impl Runnable for CudaProgram {
    fn program(&self) -> &Program {
        CudaProgram::program(self)
    }

    fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        CudaProgram::prove_accesses(self, syms)
    }

    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        Ok(self.run_host(inputs)?)
    }

    fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        let results = self.run_host(inputs)?;
        move_into(results, outputs)
    }

    fn run_bound(&self, inputs: &[&Tensor], b: &Bindings) -> Result<Vec<Tensor>, KilnError> {
        Ok(self.run_host_bound(inputs, b)?)
    }

    fn run_into_bound(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        b: &Bindings,
    ) -> Result<(), KilnError> {
        let results = self.run_host_bound(inputs, b)?;
        move_into(results, outputs)
    }
}

/// The downloaded results into the caller's outputs, which must match them.
fn move_into(results: Vec<Tensor>, outputs: &mut [Tensor]) -> Result<(), KilnError> {
    if results.len() != outputs.len() {
        return Err(InputError::Count {
            role: Role::Output,
            expected: results.len(),
            found: outputs.len(),
        }
        .into());
    }
    for (i, (r, o)) in results.into_iter().zip(outputs.iter_mut()).enumerate() {
        let name = format!("#{i}");
        check_dtype(Role::Output, &name, r.dtype, o)?;
        check_shape(Role::Output, &name, &r.shape, o)?;
        *o = r;
    }
    Ok(())
}
