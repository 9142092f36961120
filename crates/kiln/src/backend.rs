//! The seam between the driver and the code generators.
//!
//! A backend is one implementation of [`BackendImpl`] (`backend/<name>.rs`) plus one line in
//! [`registry`]. It owns everything that differs per target: the target id in the cache key,
//! code generation from a scheduled [`Program`], the artifact bytes a cache entry stores (and
//! decoding them again), loading an artifact without re-running codegen, and the `--emit`
//! texts it can print. The driver (`function.rs`) and the CLI only see this module.
//!
//! Backends take the whole [`Program`], so a new kind of kernel (a library call such as GEMM)
//! is new IR plus code inside each implementation; this interface does not change.
use std::sync::Arc;

use kiln_ir::Tensor;
use kiln_sched::ArtifactDigest;
use kiln_sched::Program;
use kiln_shape::Bindings;
use sha2::{Digest, Sha256};

use crate::error::KilnError;
use crate::options::Backend;

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;

/// The version of the artifact format inside cache entries, per backend (2: machine code and
/// cubins are byte strings, not sequences of bytes).
pub const ARTIFACT_FORMAT: u32 = 2;

/// What one backend does. Errors are [`KilnError`]s, so each implementation decides once how
/// its own error types reach a user.
pub(crate) trait BackendImpl: Sync {
    /// The target code is generated for: part of the key and of each entry's header. May need
    /// the device (CUDA asks the GPU its architecture); computed once per process.
    fn target_id(&self) -> Result<String, KilnError>;
    /// Generates code for `program`: the executable and the artifact bytes to store.
    fn compile(&self, program: &Program) -> Result<(Arc<Executable>, Vec<u8>), KilnError>;
    /// Decodes and loads artifact bytes from a cache entry (no codegen). The artifact's program
    /// is checked with [`Program::verify`] first: it is data from disk. `digest` identifies
    /// the bytes (see [`entry_digest`]).
    fn load(&self, bytes: &[u8], digest: ArtifactDigest) -> Result<Arc<Executable>, KilnError>;
    /// The `--emit` kinds this backend prints (kernel IR is common to all).
    fn emits(&self) -> &'static [Emit];
    /// The text of `what` for `program`. Needs no device: only what generating it needs.
    fn emit(&self, program: &Program, what: Emit, opts: &EmitOptions) -> Result<String, KilnError>;
}

/// The backends of this build: registering a backend is one line here (and its [`Backend`]
/// variant). A backend left out by a cargo feature is reported as unavailable.
static REGISTRY: &[(Backend, &dyn BackendImpl)] = &[
    (Backend::Cpu, &cpu::Cpu),
    #[cfg(feature = "cuda")]
    (Backend::Cuda, &cuda::Cuda),
];

pub(crate) fn registry(backend: Backend) -> Result<&'static dyn BackendImpl, KilnError> {
    REGISTRY
        .iter()
        .find(|(b, _)| *b == backend)
        .map(|(_, imp)| *imp)
        .ok_or_else(|| KilnError::BackendUnavailable {
            backend: backend.name(),
            reason: format!(
                "this kiln was built without it (cargo feature `{}`)",
                backend.name()
            ),
        })
}

/// A text `kiln compile --emit` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emit {
    /// The scheduled kernel IR (every backend's input).
    KernelIr,
    /// Cranelift IR of the CPU kernels.
    Clif,
    /// CUDA C source (needs no library).
    CudaC,
    /// PTX from NVRTC for [`EmitOptions::arch`] (needs libnvrtc, no GPU).
    Ptx,
}

impl Emit {
    pub fn name(self) -> &'static str {
        match self {
            Emit::KernelIr => "kernel-ir",
            Emit::Clif => "clif",
            Emit::CudaC => "cuda",
            Emit::Ptx => "ptx",
        }
    }
}

/// What emission needs besides the program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// The GPU architecture for PTX (`sm_90`).
    pub arch: Option<String>,
}

/// The text of `what` for `program`, from the backend that emits it.
pub fn emit(program: &Program, what: Emit, opts: &EmitOptions) -> Result<String, KilnError> {
    if what == Emit::KernelIr {
        return Ok(program.to_string());
    }
    match REGISTRY.iter().find(|(_, imp)| imp.emits().contains(&what)) {
        Some((_, imp)) => imp.emit(program, what, opts),
        None => Err(KilnError::Emit {
            what: what.name(),
            reason: "no backend of this build emits it (kiln was built without the `cuda` \
                     cargo feature)"
                .into(),
        }),
    }
}

/// The target id of `backend` (see [`BackendImpl::target_id`]).
pub fn target_id(backend: Backend) -> Result<String, KilnError> {
    registry(backend)?.target_id()
}

/// Generates code for `program`; returns the executable and its artifact bytes.
pub fn compile(
    backend: Backend,
    program: &Program,
) -> Result<(Arc<Executable>, Vec<u8>), KilnError> {
    registry(backend)?.compile(program)
}

/// Loads the artifact bytes of the cache entry named `entry_name` (no scheduling, no codegen,
/// no NVRTC).
pub fn load(
    backend: Backend,
    bytes: &[u8],
    entry_name: &str,
) -> Result<Arc<Executable>, KilnError> {
    registry(backend)?.load(bytes, entry_digest(entry_name))
}

/// The digest of freshly compiled artifact bytes: programs with equal digests share access
/// proofs (`kiln_sched::AccessCheck::for_digest`), so equal digests must mean equal bytes.
pub(crate) fn artifact_digest(bytes: &[u8]) -> ArtifactDigest {
    Sha256::digest(bytes).into()
}

/// The digest of a cache entry's artifact, from the entry's name: the name is the sha256 of
/// the whole entry file, checked when the entry was read, so it identifies the artifact
/// without hashing its bytes a second time (4 µs for a 6.5 KB entry here, a tenth of a hit).
/// Hashed with a prefix, so that it never equals an [`artifact_digest`] of other bytes.
pub(crate) fn entry_digest(entry_name: &str) -> ArtifactDigest {
    let mut h = Sha256::new();
    h.update(b"kiln cache entry\0");
    h.update(entry_name.as_bytes());
    h.finalize().into()
}

/// Compiled code for one specialisation, ready to run.
pub struct Executable {
    inner: Box<dyn Runnable>,
}

/// What a backend's loaded code does (the other half of [`BackendImpl`]).
pub(crate) trait Runnable: Send + Sync {
    fn program(&self) -> &Program;
    /// Proves every kernel access in bounds at these symbol values, as the launcher does
    /// before its first run at them (and then does not repeat).
    fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError>;
    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError>;
    fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError>;
    /// `run` on inputs the driver has checked against `program().inputs` and bound into
    /// `bindings` (see [`Executable::run_bound`]).
    fn run_bound(&self, inputs: &[&Tensor], bindings: &Bindings) -> Result<Vec<Tensor>, KilnError>;
    fn run_into_bound(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        bindings: &Bindings,
    ) -> Result<(), KilnError>;
}

impl Executable {
    pub(crate) fn new(inner: impl Runnable + 'static) -> Arc<Executable> {
        Arc::new(Executable {
            inner: Box::new(inner),
        })
    }

    pub fn program(&self) -> &Program {
        self.inner.program()
    }

    /// Proves every kernel access in bounds at these symbol values (see
    /// `kiln_sched::Program::check_accesses`): a cached entry whose program fails is refused.
    pub fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        self.inner.prove_accesses(syms)
    }

    /// Runs on host tensors (CUDA: upload, run, download).
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        self.inner.run(inputs)
    }

    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        self.inner.run_into(inputs, outputs)
    }

    /// Runs on inputs already checked against `program().inputs` (dtype, rank, dims, byte
    /// lengths) and bound into `bindings`: the driver's specialisation match does that, so a
    /// call validates once. The launcher still checks each buffer's bytes and proves the
    /// accesses, so wrong bindings are an error, never an out-of-bounds access.
    pub(crate) fn run_bound(
        &self,
        inputs: &[&Tensor],
        bindings: &Bindings,
    ) -> Result<Vec<Tensor>, KilnError> {
        self.inner.run_bound(inputs, bindings)
    }

    pub(crate) fn run_into_bound(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        bindings: &Bindings,
    ) -> Result<(), KilnError> {
        self.inner.run_into_bound(inputs, outputs, bindings)
    }
}

/// The artifact bytes of a backend's serde artifact (postcard: see FORMAT.md).
pub(crate) fn encode<T: serde::Serialize>(
    artifact: &T,
    backend: &'static str,
) -> Result<Vec<u8>, KilnError> {
    postcard::to_stdvec(artifact).map_err(|source| KilnError::Artifact {
        backend,
        action: "serialise",
        source,
    })
}

/// The artifact in bytes from a cache entry.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    backend: &'static str,
) -> Result<T, KilnError> {
    postcard::from_bytes(bytes).map_err(|source| KilnError::Artifact {
        backend,
        action: "decode",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind is emitted by exactly one registered backend, and the registry holds the CUDA
    /// backend exactly when the `cuda` feature is on (a CPU-only build reports it unavailable).
    #[test]
    fn registry_matches_the_build() {
        assert!(registry(Backend::Cpu).is_ok());
        let cuda = registry(Backend::Cuda);
        assert_eq!(cuda.is_ok(), cfg!(feature = "cuda"));
        match cuda {
            Ok(_) => {}
            Err(KilnError::BackendUnavailable { reason, .. }) => {
                assert!(reason.contains("cargo feature `cuda`"), "{reason}");
            }
            Err(e) => panic!("{e}"),
        }
        for what in [Emit::Clif, Emit::CudaC, Emit::Ptx] {
            let owners = REGISTRY
                .iter()
                .filter(|(_, imp)| imp.emits().contains(&what))
                .count();
            let expected = usize::from(what == Emit::Clif || cfg!(feature = "cuda"));
            assert_eq!(owners, expected, "{what:?}");
        }
    }
}
