//! The CPU artifact loader on mangled artifacts, directly (below the cache's content hash and
//! signature): a structurally wrong artifact (version, ISA, kernel count, relocation kind,
//! target, offset or addend, alignment) must be refused with an error, never panic and never
//! install code; random damage to the serialised bytes must decode to an error or load
//! without panicking. (Damage to the machine code bytes themselves cannot be seen here: the
//! entry's content hash, and with KILN_CACHE_SECRET its HMAC, is what refuses those.)
mod reliability_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use kiln::{CompileOptions, Compiler};
use kiln_cpu::{CpuArtifact, RelocKind, RelocRecord, RelocTarget};
use reliability_support::*;

/// A real artifact of a fused graph with reductions (several kernels).
fn artifact() -> CpuArtifact {
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let f = compiler.compile(&graph(1)).expect("compile");
    let inputs = inputs_for(f.graph(), 6, 1);
    let shapes = shapes_of(&inputs);
    let exec = f.executable(&shapes).expect("executable");
    let (_, artifact) = kiln_cpu::compile(exec.program()).expect("compile to an artifact");
    assert!(
        kiln_cpu::load(artifact.clone()).is_ok(),
        "the pristine artifact loads"
    );
    artifact
}

/// Loads `artifact`, turning a panic into a test failure that names the case.
fn load_outcome(artifact: &CpuArtifact, what: &str) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| kiln_cpu::load(artifact.clone()))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => panic!("{what}: kiln_cpu::load panicked"),
    }
}

fn reloc(offset: u32, kind: RelocKind, target: RelocTarget, addend: i64) -> RelocRecord {
    RelocRecord {
        offset,
        kind,
        target,
        addend,
    }
}

/// Each structural mangling, named.
fn manglings(original: &CpuArtifact) -> Vec<(String, CpuArtifact)> {
    let mut out = Vec::new();
    let mut push = |what: &str, change: &dyn Fn(&mut CpuArtifact)| {
        let mut mangled = original.clone();
        change(&mut mangled);
        out.push((what.to_string(), mangled));
    };
    push("another kiln-cpu version", &|a| {
        a.kiln_cpu_version = "9.9.9".into()
    });
    push("another triple", &|a| {
        a.isa.triple = "riscv64gc-unknown-linux-gnu".into()
    });
    push("other ISA flags", &|a| {
        a.isa.flags.push_str(",imaginary=true")
    });
    push("a kernel missing", &|a| {
        a.kernels.pop();
    });
    push("a kernel too many", &|a| {
        let extra = a.kernels[0].clone();
        a.kernels.push(extra);
    });
    push("a program kernel missing", &|a| {
        a.program.kernels.pop();
    });
    let code_len = original.kernels[0].code.len() as u32;
    let local = |offset| RelocTarget::KernelOffset { kernel: 0, offset };
    let cases: Vec<(&str, RelocRecord)> = vec![
        (
            "an unknown relocation kind",
            reloc(0, RelocKind::Other("R_IMAGINARY".into()), local(0), 0),
        ),
        (
            "a relocation to a known symbol",
            reloc(
                0,
                RelocKind::Abs8,
                RelocTarget::KnownSymbol("ElfGot".into()),
                0,
            ),
        ),
        (
            "a relocation to an imported function",
            reloc(
                0,
                RelocKind::Abs8,
                RelocTarget::User {
                    namespace: 0,
                    index: 7,
                },
                0,
            ),
        ),
        (
            "a relocation to an unknown libcall",
            reloc(
                0,
                RelocKind::Abs8,
                RelocTarget::LibCall("NoSuchCall".into()),
                0,
            ),
        ),
        (
            "a relocation into a missing kernel",
            reloc(
                0,
                RelocKind::Abs8,
                RelocTarget::KernelOffset {
                    kernel: 99,
                    offset: 0,
                },
                0,
            ),
        ),
        (
            "a relocation past the code",
            reloc(code_len + 4096, RelocKind::Abs8, local(0), 0),
        ),
        (
            "a relocation straddling the end of the code",
            reloc(code_len.saturating_sub(2), RelocKind::Abs8, local(0), 0),
        ),
        (
            "a relocation target past its kernel",
            reloc(0, RelocKind::Abs8, local(u32::MAX), 0),
        ),
        (
            "an overflowing addend",
            reloc(0, RelocKind::Abs8, local(0), i64::MAX),
        ),
        (
            "a pc-relative relocation out of range",
            reloc(0, RelocKind::X86PCRel4, local(0), 1 << 40),
        ),
        // Outside the module's code region: a 4-byte patch may not reach (the JIT's range
        // check would panic), so only 8-byte absolute relocations may point there.
        (
            "a pc-relative call to a libcall",
            reloc(
                0,
                RelocKind::X86CallPCRel4,
                RelocTarget::LibCall("FloorF32".into()),
                0,
            ),
        ),
        (
            "a 4-byte absolute relocation to a libcall",
            reloc(
                0,
                RelocKind::Abs4,
                RelocTarget::LibCall("FloorF32".into()),
                0,
            ),
        ),
        (
            "a GOT relocation in non-PIC code",
            reloc(0, RelocKind::X86GOTPCRel4, local(0), 0),
        ),
    ];
    for (what, record) in cases {
        push(what, &move |a| a.kernels[0].relocs.push(record.clone()));
    }
    push("alignment 3", &|a| a.kernels[0].alignment = 3);
    push("alignment 2^40", &|a| a.kernels[0].alignment = 1 << 40);
    out
}

#[test]
fn structurally_mangled_artifacts_are_refused() {
    let original = artifact();
    let cases = manglings(&original);
    let mut refused = 0;
    for (what, mangled) in &cases {
        match load_outcome(mangled, what) {
            Err(reason) => {
                assert!(!reason.is_empty(), "{what}: an error says why");
                refused += 1;
            }
            Ok(()) => panic!("{what}: a mangled artifact was loaded"),
        }
    }
    eprintln!(
        "artifact: {} structural manglings, {refused} refused by kiln_cpu::load",
        cases.len()
    );
}

#[test]
fn damaged_artifact_bytes_never_panic_the_loader() {
    let original = artifact();
    let bytes = postcard::to_allocvec(&original).expect("encode");
    let mut rng = Rng(0x0A27_FAC7 | 1);
    let (mut undecodable, mut refused, mut loaded) = (0, 0, 0);
    let iterations = if long_mode() { 20_000 } else { 600 };
    for i in 0..iterations {
        let mut damaged = bytes.clone();
        match i % 4 {
            0 => {
                let at = rng.below(damaged.len() as u64) as usize;
                damaged[at] ^= 1 << rng.below(8);
            }
            1 => damaged.truncate(rng.below(damaged.len() as u64) as usize),
            2 => {
                for _ in 0..8 {
                    let at = rng.below(damaged.len() as u64) as usize;
                    damaged[at] = rng.next() as u8;
                }
            }
            _ => {
                let at = rng.below(damaged.len() as u64) as usize;
                let len = (rng.below(64) as usize).min(damaged.len() - at);
                damaged[at..at + len].fill(0xFF);
            }
        }
        let Ok(artifact) = postcard::from_bytes::<CpuArtifact>(&damaged) else {
            undecodable += 1;
            continue;
        };
        match load_outcome(&artifact, &format!("damage #{i}")) {
            Err(_) => refused += 1,
            // Damage confined to machine code or program fields the loader does not read.
            Ok(()) => loaded += 1,
        }
    }
    eprintln!(
        "artifact: {iterations} damaged serialisations: {undecodable} undecodable, {refused} \
         refused by load, {loaded} loaded (code bytes; never executed here), 0 panics"
    );
}
