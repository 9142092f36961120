//! Compiling a program with Cranelift, and relocatable artifacts that reload without it.
//!
//! A [`CpuArtifact`] holds each kernel's machine code, alignment and relocations in kiln's own
//! serde form, plus the [`Program`] and the ISA it was compiled for. [`load`] checks the
//! kiln-cpu version and the host ISA, then installs the bytes with `define_function_bytes`
//! into a fresh JIT module: no Cranelift compilation on the cache-hit path. Kernels are
//! declared in program order, so a relocation naming a kernel maps back by index.
use std::sync::Arc;

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::ir::LibCall;
use cranelift_codegen::isa::TargetIsa;
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module, ModuleReloc, ModuleRelocTarget};
use kiln_sched::Program;
use serde::{Deserialize, Serialize};

use crate::codegen;
use crate::error::CpuError;
use crate::jit::{HostIsa, describe, host_isa, new_module};
use crate::math::wide::Routine;
use crate::run::{CompiledProgram, KernelFn};

/// The kiln-cpu version an artifact was compiled by; artifacts of other versions are refused.
pub const KILN_CPU_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Compiled machine code of a program, for the on-disk cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuArtifact {
    pub kiln_cpu_version: String,
    pub isa: HostIsa,
    pub program: Program,
    /// One per kernel of `program`, in order.
    pub kernels: Vec<KernelCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelCode {
    pub name: String,
    /// A byte string on disk (decoded by one copy, not byte by byte).
    #[serde(with = "serde_bytes")]
    pub code: Vec<u8>,
    pub alignment: u64,
    pub relocs: Vec<RelocRecord>,
}

/// A relocation: patch `kind` at `offset` with the address of `target` plus `addend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelocRecord {
    pub offset: u32,
    pub kind: RelocKind,
    pub target: RelocTarget,
    pub addend: i64,
}

/// The relocation kinds Cranelift emits for x86-64 and aarch64 JIT code; any other is kept by
/// name and refused on load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocKind {
    Abs4,
    Abs8,
    X86PCRel4,
    X86CallPCRel4,
    X86CallPLTRel4,
    X86GOTPCRel4,
    Arm64Call,
    Aarch64AdrGotPage21,
    Aarch64Ld64GotLo12Nc,
    Aarch64AdrPrelPgHi21,
    Aarch64AddAbsLo12Nc,
    Other(String),
}

const KINDS: [(RelocKind, Reloc); 11] = [
    (RelocKind::Abs4, Reloc::Abs4),
    (RelocKind::Abs8, Reloc::Abs8),
    (RelocKind::X86PCRel4, Reloc::X86PCRel4),
    (RelocKind::X86CallPCRel4, Reloc::X86CallPCRel4),
    (RelocKind::X86CallPLTRel4, Reloc::X86CallPLTRel4),
    (RelocKind::X86GOTPCRel4, Reloc::X86GOTPCRel4),
    (RelocKind::Arm64Call, Reloc::Arm64Call),
    (RelocKind::Aarch64AdrGotPage21, Reloc::Aarch64AdrGotPage21),
    (RelocKind::Aarch64Ld64GotLo12Nc, Reloc::Aarch64Ld64GotLo12Nc),
    (RelocKind::Aarch64AdrPrelPgHi21, Reloc::Aarch64AdrPrelPgHi21),
    (RelocKind::Aarch64AddAbsLo12Nc, Reloc::Aarch64AddAbsLo12Nc),
];

/// What a relocation points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocTarget {
    /// A runtime library function (e.g. `CeilF32` on hosts without SSE4.1), by Cranelift's name.
    LibCall(String),
    /// A symbol known to the linker, by name (refused on load).
    KnownSymbol(String),
    /// A user-declared function other than a routine (refused on load).
    User { namespace: u32, index: u32 },
    /// A wide tile routine (`math::wide::Routine`), by its symbol.
    Routine(String),
    /// An offset inside kernel `kernel` of the same artifact.
    KernelOffset { kernel: u32, offset: u32 },
}

fn record(
    reloc: &ModuleReloc,
    kernel_of: &dyn Fn(FuncId) -> u32,
    routine_of: &dyn Fn(u32) -> Option<Routine>,
) -> RelocRecord {
    let kind = KINDS.iter().find(|(_, r)| *r == reloc.kind).map_or_else(
        || RelocKind::Other(format!("{:?}", reloc.kind)),
        |(k, _)| k.clone(),
    );
    let target = match &reloc.name {
        ModuleRelocTarget::User { namespace, index } => match routine_of(*index) {
            Some(r) if *namespace == 0 => RelocTarget::Routine(r.symbol().to_string()),
            _ => RelocTarget::User {
                namespace: *namespace,
                index: *index,
            },
        },
        ModuleRelocTarget::LibCall(l) => RelocTarget::LibCall(l.to_string()),
        ModuleRelocTarget::KnownSymbol(s) => RelocTarget::KnownSymbol(format!("{s:?}")),
        ModuleRelocTarget::FunctionOffset(f, off) => RelocTarget::KernelOffset {
            kernel: kernel_of(*f),
            offset: *off,
        },
    };
    RelocRecord {
        offset: reloc.offset,
        kind,
        target,
        addend: reloc.addend,
    }
}

/// The largest alignment a kernel may ask for (Cranelift asks for a few bytes).
const MAX_ALIGNMENT: u64 = 4096;
/// The largest relocation addend accepted (Cranelift emits a few bytes, e.g. -4).
const MAX_ADDEND: u64 = 1 << 16;

/// Bytes a relocation of `kind` patches.
fn patch_width(kind: Reloc) -> usize {
    match kind {
        Reloc::Abs8 => 8,
        _ => 4,
    }
}

fn damaged(kernel: &KernelCode, what: String) -> CpuError {
    CpuError::BadArtifact {
        kernel: kernel.name.clone(),
        what,
    }
}

/// Refuses an alignment that is not a power of two or is absurd: the JIT allocator trusts it.
fn check_alignment(kernel: &KernelCode) -> Result<(), CpuError> {
    let a = kernel.alignment;
    if a > MAX_ALIGNMENT || (a != 0 && !a.is_power_of_two()) {
        return Err(damaged(kernel, format!("alignment {a}")));
    }
    Ok(())
}

/// Whether an x86-64 relocation of `kind` can reach `target` (other kinds: true). A 4-byte
/// patch reaches ±2 GiB (PC-relative) or the low 4 GiB (`Abs4`): only the module's own code,
/// one region, is sure to be in reach, and the JIT's range check on anything else panics.
/// Kernels reach libcalls and routines through 8-byte absolute addresses; this non-PIC code
/// has no PLT or GOT relocations.
fn x86_reach_holds(kind: &RelocKind, target: &RelocTarget) -> bool {
    match kind {
        RelocKind::Abs4 | RelocKind::X86PCRel4 | RelocKind::X86CallPCRel4 => {
            matches!(target, RelocTarget::KernelOffset { .. })
        }
        RelocKind::X86CallPLTRel4 | RelocKind::X86GOTPCRel4 => false,
        _ => true,
    }
}

/// A relocation as Cranelift takes it, after checking what Cranelift does not (in release
/// builds it patches unchecked): the patched bytes lie inside the kernel's code, a target
/// offset inside its kernel, and the addend is small.
fn restore(
    r: &RelocRecord,
    kernel: &KernelCode,
    ids: &Declared,
    code_lens: &[usize],
) -> Result<ModuleReloc, CpuError> {
    let unsupported = |what: String| CpuError::UnsupportedReloc {
        kernel: kernel.name.clone(),
        what,
    };
    let kind = KINDS
        .iter()
        .find(|(k, _)| *k == r.kind)
        .map(|(_, reloc)| *reloc)
        .ok_or_else(|| unsupported(format!("kind {:?}", r.kind)))?;
    let end = (r.offset as usize).checked_add(patch_width(kind));
    if end.is_none_or(|end| end > kernel.code.len()) {
        return Err(damaged(
            kernel,
            format!(
                "relocation at offset {} past its {} bytes of code",
                r.offset,
                kernel.code.len()
            ),
        ));
    }
    if r.addend.unsigned_abs() > MAX_ADDEND {
        return Err(damaged(kernel, format!("relocation addend {}", r.addend)));
    }
    if !x86_reach_holds(&r.kind, &r.target) {
        return Err(damaged(
            kernel,
            format!("a {:?} relocation to {:?}", r.kind, r.target),
        ));
    }
    let name = match &r.target {
        RelocTarget::LibCall(name) => ModuleRelocTarget::LibCall(
            name.parse::<LibCall>()
                .map_err(|_| unsupported(format!("to unknown libcall `{name}`")))?,
        ),
        RelocTarget::KernelOffset { kernel: k, offset } => {
            let (id, len) = ids
                .kernels
                .get(*k as usize)
                .zip(code_lens.get(*k as usize))
                .ok_or_else(|| unsupported(format!("into missing kernel {k}")))?;
            if *offset as usize > *len {
                return Err(damaged(
                    kernel,
                    format!("relocation to offset {offset} past kernel {k}'s {len} bytes"),
                ));
            }
            ModuleRelocTarget::FunctionOffset(*id, *offset)
        }
        RelocTarget::Routine(symbol) => {
            let routine = Routine::by_symbol(symbol)
                .filter(|_| crate::math::wide::enabled())
                .ok_or_else(|| unsupported(format!("to routine `{symbol}`, not on this host")))?;
            let position = Routine::ALL.iter().position(|x| *x == routine).unwrap_or(0);
            let id = ids.routines[position];
            ModuleRelocTarget::User {
                namespace: 0,
                index: id.as_u32(),
            }
        }
        other => return Err(unsupported(format!("to {other:?}"))),
    };
    Ok(ModuleReloc {
        offset: r.offset,
        kind,
        name,
        addend: r.addend,
    })
}

/// The functions of a module: its kernels, then the routines they may import.
struct Declared {
    kernels: Vec<FuncId>,
    /// One per [`Routine::ALL`], in that order (`codegen::routine_func_index`).
    routines: Vec<FuncId>,
}

fn declare_kernels(
    module: &mut JITModule,
    isa: &dyn TargetIsa,
    n: usize,
) -> Result<Declared, CpuError> {
    let cl_err = |what: String, e: cranelift_module::ModuleError| CpuError::Cranelift {
        kernel: what,
        msg: e.to_string(),
    };
    let sig = codegen::kernel_signature(isa.default_call_conv());
    let kernels = (0..n)
        .map(|i| {
            module
                .declare_function(&format!("kiln_kernel_{i}"), Linkage::Local, &sig)
                .map_err(|e| cl_err(i.to_string(), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sig = codegen::routine_signature(isa.default_call_conv());
    let routines = Routine::ALL
        .iter()
        .map(|r| {
            module
                .declare_function(r.symbol(), Linkage::Import, &sig)
                .map_err(|e| cl_err(r.symbol().to_string(), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Kernels call routine `r` as user function `routine_func_index(n, r)`.
    for (r, id) in Routine::ALL.iter().zip(&routines) {
        if id.as_u32() != codegen::routine_func_index(n, *r) {
            return Err(CpuError::Cranelift {
                kernel: r.symbol().to_string(),
                msg: format!(
                    "declared as function {}, kernels call {}",
                    id.as_u32(),
                    codegen::routine_func_index(n, *r)
                ),
            });
        }
    }
    Ok(Declared { kernels, routines })
}

fn finish(
    mut module: JITModule,
    ids: &[FuncId],
    program: Program,
) -> Result<CompiledProgram, CpuError> {
    module
        .finalize_definitions()
        .map_err(|e| CpuError::Cranelift {
            kernel: "(finalize)".to_string(),
            msg: e.to_string(),
        })?;
    let kernels = ids
        .iter()
        .map(|&id| {
            let ptr = module.get_finalized_function(id);
            // SAFETY: the function was defined with `kernel_signature`, which is this C ABI
            // signature on the host's default calling convention.
            unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) }
        })
        .collect();
    Ok(CompiledProgram::new(program, kernels, module))
}

/// Compiles every kernel of `program` for this host.
pub fn compile(program: &Program) -> Result<(CompiledProgram, CpuArtifact), CpuError> {
    let isa: Arc<dyn TargetIsa> = host_isa()?;
    let mut module = new_module(isa.clone(), 0);
    let declared = declare_kernels(&mut module, &*isa, program.kernels.len())?;
    let ids = &declared.kernels;
    let routine_of = |index: u32| {
        let first = program.kernels.len() as u32;
        index
            .checked_sub(first)
            .and_then(|p| Routine::ALL.get(p as usize).copied())
    };
    let mut ctx = module.make_context();
    let mut codes = Vec::with_capacity(ids.len());
    for (i, k) in program.kernels.iter().enumerate() {
        let cl_err = |msg: String| CpuError::Cranelift {
            kernel: k.name.clone(),
            msg,
        };
        ctx.func = codegen::build_function(
            program,
            k,
            i as u32,
            isa.default_call_conv(),
            isa.frontend_config(),
        )?;
        module
            .define_function(ids[i], &mut ctx)
            .map_err(|e| cl_err(format!("{e:?}")))?;
        let compiled = ctx
            .compiled_code()
            .ok_or_else(|| cl_err("no compiled code after definition".to_string()))?;
        let kernel_of = |f: FuncId| ids.iter().position(|&x| x == f).unwrap_or(usize::MAX) as u32;
        let relocs = compiled
            .buffer
            .relocs()
            .iter()
            .map(|r| {
                record(
                    &ModuleReloc::from_mach_reloc(r, &ctx.func, ids[i]),
                    &kernel_of,
                    &routine_of,
                )
            })
            .collect();
        codes.push(KernelCode {
            name: k.name.clone(),
            code: compiled.code_buffer().to_vec(),
            alignment: u64::from(compiled.buffer.alignment),
            relocs,
        });
        module.clear_context(&mut ctx);
    }
    let artifact = CpuArtifact {
        kiln_cpu_version: KILN_CPU_VERSION.to_string(),
        isa: describe(&*isa),
        program: program.clone(),
        kernels: codes,
    };
    Ok((finish(module, ids, program.clone())?, artifact))
}

/// Installs an artifact's machine code into a fresh JIT module (no Cranelift compilation).
/// Refuses artifacts of another kiln-cpu version, compiled for another ISA or ISA flags, or
/// whose program fails [`Program::verify`].
pub fn load(artifact: CpuArtifact) -> Result<CompiledProgram, CpuError> {
    if artifact.kiln_cpu_version != KILN_CPU_VERSION {
        return Err(CpuError::VersionMismatch {
            expected: KILN_CPU_VERSION.to_string(),
            found: artifact.kiln_cpu_version.clone(),
        });
    }
    let (isa, host) = crate::jit::host()?;
    let isa: Arc<dyn TargetIsa> = isa.clone();
    if artifact.isa != *host {
        return Err(CpuError::IsaMismatch {
            expected: host.id(),
            found: artifact.isa.id(),
        });
    }
    // The machine code indexes buffers and symbols as the program says: a malformed program
    // from disk must not reach the launcher.
    artifact.program.verify()?;
    if artifact.kernels.len() != artifact.program.kernels.len() {
        return Err(CpuError::KernelCount {
            expected: artifact.program.kernels.len(),
            found: artifact.kernels.len(),
        });
    }
    // One region holds every kernel (each may be padded to its alignment).
    let code_bytes = artifact
        .kernels
        .iter()
        .map(|k| k.code.len().saturating_add(k.alignment as usize))
        .fold(0usize, usize::saturating_add);
    let mut module = new_module(isa.clone(), code_bytes);
    let declared = declare_kernels(&mut module, &*isa, artifact.kernels.len())?;
    let code_lens: Vec<usize> = artifact.kernels.iter().map(|k| k.code.len()).collect();
    for (k, &id) in artifact.kernels.iter().zip(&declared.kernels) {
        check_alignment(k)?;
        let relocs = k
            .relocs
            .iter()
            .map(|r| restore(r, k, &declared, &code_lens))
            .collect::<Result<Vec<_>, _>>()?;
        module
            .define_function_bytes(id, k.alignment, &k.code, &relocs)
            .map_err(|e| CpuError::Cranelift {
                kernel: k.name.clone(),
                msg: e.to_string(),
            })?;
    }
    // The program moves into the compiled form (a hit decodes it once and never copies it).
    finish(module, &declared.kernels, artifact.program)
}
