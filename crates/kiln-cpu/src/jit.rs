//! The host ISA (cranelift-native) and fresh JIT modules for it.
use std::sync::{Arc, OnceLock};

use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use kiln_sched::Program;
use serde::{Deserialize, Serialize};

use crate::codegen;
use crate::error::CpuError;

/// What machine code was compiled for: the target triple and every ISA flag cranelift-native
/// detected (`has_avx=true,...`) plus the shared flags that change code (`opt_level`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostIsa {
    pub triple: String,
    pub flags: String,
}

impl HostIsa {
    /// One string naming the target, for cache keys.
    pub fn id(&self) -> String {
        format!("{}|{}", self.triple, self.flags)
    }
}

/// The Cranelift ISA of this machine, with `opt_level=speed`, and its description: built
/// once per process (probing and describing it cost about as much as loading a cached
/// artifact, which needs both on every hit).
pub(crate) fn host() -> Result<&'static (OwnedTargetIsa, HostIsa), CpuError> {
    static HOST: OnceLock<Result<(OwnedTargetIsa, HostIsa), String>> = OnceLock::new();
    HOST.get_or_init(|| match build_host_isa() {
        Ok(isa) => {
            let described = describe(&*isa);
            Ok((isa, described))
        }
        Err(CpuError::HostIsa(msg)) => Err(msg),
        Err(other) => Err(other.to_string()),
    })
    .as_ref()
    .map_err(|msg| CpuError::HostIsa(msg.clone()))
}

/// The Cranelift ISA of this machine (shared, see [`host`]).
pub(crate) fn host_isa() -> Result<OwnedTargetIsa, CpuError> {
    host().map(|(isa, _)| isa.clone())
}

fn build_host_isa() -> Result<OwnedTargetIsa, CpuError> {
    let mut shared = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v)
            .map_err(|e| CpuError::HostIsa(format!("setting {k}={v}: {e}")))
    };
    set(&mut shared, "opt_level", "speed")?;
    let verify = if cranelift_verifier() {
        "true"
    } else {
        "false"
    };
    set(&mut shared, "enable_verifier", verify)?;
    // A JIT module's code may be placed anywhere in the address space.
    set(&mut shared, "is_pic", "false")?;
    let isa_builder = cranelift_native::builder().map_err(|e| CpuError::HostIsa(e.to_string()))?;
    isa_builder
        .finish(settings::Flags::new(shared))
        .map_err(|e| CpuError::HostIsa(e.to_string()))
}

/// Whether Cranelift checks every function's CLIF (its IR verifier) while compiling: in debug
/// builds (every test) and where `KILN_CRANELIFT_VERIFIER=1`; not in release builds, where it
/// was a fifth of the compile time of a 100-kernel program. It checks the CLIF kiln's codegen
/// writes, never changes the machine code, so it is not part of the cache key; kiln's own
/// checks (`Program::verify`, the access proofs, launch validation) stay on everywhere.
fn cranelift_verifier() -> bool {
    cfg!(debug_assertions) || std::env::var_os("KILN_CRANELIFT_VERIFIER").is_some_and(|v| v == "1")
}

pub(crate) fn describe(isa: &dyn TargetIsa) -> HostIsa {
    let mut flags: Vec<String> = isa.isa_flags().iter().map(|v| v.to_string()).collect();
    // Whether vector kernels call the wide tile routines changes the code as an ISA flag does.
    flags.push(crate::math::wide::isa_flag().to_string());
    flags.sort();
    flags.push(format!("opt_level={}", isa.flags().opt_level()));
    HostIsa {
        triple: isa.triple().to_string(),
        flags: flags.join(","),
    }
}

/// The identity of this host's code generation target (triple, ISA flags and the Cranelift
/// version, whose code generation changes between releases): artifacts are only valid on a
/// host with the same id, so the cache keys on it.
pub fn target_id() -> Result<String, CpuError> {
    // The Cranelift crates are released together: cranelift-jit's version names them all.
    // GEMM steps run library code, so its version is part of the key too.
    Ok(format!(
        "{}|{}|cranelift-{}",
        host()?.1.id(),
        crate::library::GEMM_LIBRARY,
        cranelift_jit::VERSION
    ))
}

/// A fresh module whose code will take about `code_bytes` (0: unknown).
pub(crate) fn new_module(isa: Arc<dyn TargetIsa>, code_bytes: usize) -> JITModule {
    let mut builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    // The only functions kernels import: the wide routines, by name (none where disabled).
    builder.symbols(crate::math::wide::symbols());
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    builder.memory_provider(Box::new(crate::code_pool::PooledCode::with_size_hint(
        code_bytes,
    )));
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let _ = code_bytes;
    JITModule::new(builder)
}

/// The CLIF text of every kernel of `program` (for `kiln compile --emit clif`); a kernel that
/// fails to generate is printed as a comment with the reason.
pub fn emit_clif(program: &Program) -> String {
    let isa = match host_isa() {
        Ok(isa) => isa,
        Err(e) => return format!("; {e}\n"),
    };
    let mut out = String::new();
    for (i, k) in program.kernels.iter().enumerate() {
        out.push_str(&format!("; kernel {i}: {}\n", k.name));
        match codegen::build_function(
            program,
            k,
            i as u32,
            isa.default_call_conv(),
            isa.frontend_config(),
        ) {
            Ok(f) => out.push_str(&f.display().to_string()),
            Err(e) => out.push_str(&format!("; error: {e}\n")),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_id_names_the_gemm_library_as_locked() {
        let id = super::target_id().expect("host ISA");
        assert!(id.contains("|gemm-"), "{id}");
        let version = crate::library::GEMM_LIBRARY.trim_start_matches("gemm-");
        let lock = include_str!("../../../Cargo.lock");
        let locked = format!("name = \"gemm\"\nversion = \"{version}\"\n");
        assert!(
            lock.contains(&locked),
            "Cargo.lock does not pin gemm {version}"
        );
    }

    #[test]
    fn target_id_names_the_cranelift_version() {
        let id = super::target_id().expect("host ISA");
        assert!(
            id.ends_with(&format!("|cranelift-{}", cranelift_jit::VERSION)),
            "{id}"
        );
    }
}
