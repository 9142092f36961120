//! The generated CUDA C of every op and dtype compiles with NVRTC to PTX and to an sm_90 cubin.
//! Needs libnvrtc (no GPU): without it each test prints one skip line and returns.
mod common;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use common::{Case, Expect, all_cases, large_cases, schedule_case, selected, wide_index};
use kiln_cuda::nvrtc::{Arch, compile_source};
use kiln_cuda::{CudaError, generate, nvrtc_available};
use kiln_sched::SchedOptions;

fn nvrtc_or_skip() -> bool {
    if !nvrtc_available() {
        skip_support::skip(
            "libnvrtc not found (pip install nvidia-cuda-nvrtc; `kiln doctor` shows where it looked)",
        );
        return false;
    }
    true
}

fn compile_all(opts: &SchedOptions) {
    let arch = Arch::parse("sm_90").expect("valid arch");
    let cases: Vec<Case> = all_cases().into_iter().filter(selected).collect();
    assert!(cases.len() > 100, "the case list covers every op and dtype");
    let mut failures = Vec::new();
    let mut entries = Vec::new();
    for c in &cases {
        let (_, program) = match schedule_case(c, opts) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        let src = generate(&program).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        match compile_source(&src, &arch) {
            Ok(out) => {
                for name in &src.entries {
                    assert!(
                        out.ptx.contains(&format!(".entry {name}")),
                        "{}: PTX lacks entry {name}",
                        c.name
                    );
                }
                assert_eq!(&out.cubin[..4], b"\x7fELF", "{}: cubin is an ELF", c.name);
                entries.extend(src.entries.iter().cloned());
            }
            Err(e) => failures.push(format!("{}: {e}\n{}", c.name, src.numbered())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if std::env::var("KILN_CUDA_CASES").is_err() {
        // The matrix compiles the specialised shapes too, not only the thread-per-point ones.
        let blocks = entries.iter().filter(|e| e.ends_with("_block")).count();
        let vectors = entries.iter().filter(|e| e.ends_with("_vec")).count();
        assert!(
            blocks >= 40 && vectors >= 8,
            "{blocks} block, {vectors} vector kernels"
        );
    }
}

/// The PTX of one entry: from its `.entry` line to the next one.
fn entry_ptx<'a>(ptx: &'a str, name: &str) -> Option<&'a str> {
    let start = ptx.find(&format!(".entry {name}("))?;
    let rest = &ptx[start + 1..];
    Some(&ptx[start..start + 1 + rest.find(".entry ").unwrap_or(rest.len())])
}

/// Whether a line of `ptx` is a 16-byte `op` (`ld.global`, `st.global`): four 32-bit or two
/// 64-bit elements.
fn has_16_byte(ptx: &str, op: &str) -> bool {
    ptx.lines().any(|l| {
        l.contains(op)
            && [".v4.", ".v2.f64", ".v2.u64", ".v2.b64"]
                .iter()
                .any(|w| l.contains(w))
    })
}

#[test]
fn specialised_shapes_exist_and_use_shuffles_and_16_byte_accesses() {
    if !nvrtc_or_skip() {
        return;
    }
    let arch = Arch::parse("sm_90").expect("valid arch");
    let mut failures = Vec::new();
    for lc in large_cases().iter().filter(|lc| selected(&lc.case)) {
        for opts in [SchedOptions::default(), wide_index()] {
            let c = &lc.case;
            let (_, program) =
                schedule_case(c, &opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let src = generate(&program).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let out = match compile_source(&src, &arch) {
                Ok(out) => out,
                Err(e) => {
                    failures.push(format!("{}: {e}", c.name));
                    continue;
                }
            };
            let blocks: Vec<&String> = src
                .entries
                .iter()
                .filter(|e| e.ends_with("_block"))
                .collect();
            let vectors: Vec<&String> =
                src.entries.iter().filter(|e| e.ends_with("_vec")).collect();
            let present = match lc.expect {
                Expect::Block => !blocks.is_empty(),
                Expect::Vector => !vectors.is_empty(),
                // The row length is symbolic: only the launch can rule the vector shape out.
                Expect::PointOnly => blocks.is_empty(),
            };
            if !present {
                failures.push(format!("{}: entries {:?}", c.name, src.entries));
            }
            for name in blocks {
                let ptx = entry_ptx(&out.ptx, name).unwrap_or_default();
                if !ptx.contains("shfl.sync.down") || !ptx.contains("bar.sync") {
                    failures.push(format!(
                        "{}: {name} has no warp shuffle and barrier",
                        c.name
                    ));
                }
            }
            for name in vectors {
                let ptx = entry_ptx(&out.ptx, name).unwrap_or_default();
                let wide_load = has_16_byte(ptx, "ld.global");
                let wide_store = has_16_byte(ptx, "st.global");
                // The lane arrays must live in registers, not in local memory.
                if !wide_load || !wide_store || ptx.contains("__local_depot") {
                    failures.push(format!(
                        "{}: {name}: 16-byte load {wide_load}, store {wide_store}, \
                         local memory {}",
                        c.name,
                        ptx.contains("__local_depot")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_case_compiles_with_32_bit_indexing() {
    if nvrtc_or_skip() {
        compile_all(&SchedOptions::default());
    }
}

#[test]
fn every_case_compiles_with_64_bit_indexing() {
    if nvrtc_or_skip() {
        compile_all(&wide_index());
    }
}

#[test]
fn index_width_follows_the_kernel_ir() {
    let c = &all_cases()[0];
    let (_, narrow) = schedule_case(c, &SchedOptions::default()).expect("schedules");
    let (_, wide) = schedule_case(c, &wide_index()).expect("schedules");
    assert!(narrow.kernels.iter().all(|k| k.index_bits == 32));
    assert!(wide.kernels.iter().all(|k| k.index_bits == 64));
    let narrow_src = generate(&narrow).expect("generates").code;
    let wide_src = generate(&wide).expect("generates").code;
    assert!(narrow_src.contains("const int o0") && !narrow_src.contains("const long long o0"));
    assert!(wide_src.contains("const long long o0"));
}

#[test]
fn artifact_round_trips_through_postcard() {
    if !nvrtc_or_skip() {
        return;
    }
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "softmax_f32")
        .expect("case exists");
    let (_, program) = schedule_case(&c, &SchedOptions::default()).expect("schedules");
    let art = kiln_cuda::compile(&program, "sm_90").expect("compiles");
    assert_eq!(art.arch, "sm_90");
    assert_eq!(art.kernel_names.len(), program.kernels.len());
    assert_eq!(
        art.nvrtc_version,
        kiln_cuda::nvrtc_version().expect("version")
    );
    let bytes = postcard::to_stdvec(&art).expect("serializes");
    let back: kiln_cuda::CudaArtifact = postcard::from_bytes(&bytes).expect("deserializes");
    assert_eq!(back, art);
    let id = kiln_cuda::target_id("sm_90");
    assert!(id.contains("sm_90") && id.contains("nvrtc-"), "{id}");
    assert_ne!(id, kiln_cuda::target_id("sm_80"));
}

#[test]
fn compile_errors_carry_the_log_and_numbered_source() {
    if !nvrtc_or_skip() {
        return;
    }
    let src = kiln_cuda::CudaSource {
        name: "broken.cu".into(),
        code: "extern \"C\" __global__ void k(float* p) {\n  p[0] = undefined_name;\n}\n".into(),
        headers: vec![],
        kernel_names: vec!["k".into()],
        entries: vec!["k".into()],
    };
    let err = compile_source(&src, &Arch::parse("sm_90").expect("arch")).expect_err("fails");
    match &err {
        CudaError::Compile { log, excerpt, .. } => {
            assert!(log.contains("undefined_name"), "{log}");
            assert!(
                excerpt.contains("    2 |   p[0] = undefined_name;"),
                "{excerpt}"
            );
        }
        other => panic!("expected a compile error, got {other}"),
    }
}

/// The site-packages of the `python3` on PATH, when it has the PyPI wheel's libnvrtc.
fn wheel_lib_dir() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .ok()?;
    let site = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    [
        "nvidia/cu13/lib",
        "nvidia/cu12/lib",
        "nvidia/cuda_nvrtc/lib",
    ]
    .iter()
    .map(|d| site.join(d))
    .find(|d| {
        std::fs::read_dir(d).is_ok_and(|mut it| {
            it.any(|e| {
                e.is_ok_and(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("libnvrtc.so") && !name.contains("alt")
                })
            })
        })
    })
}

/// `pip install nvidia-cuda-nvrtc` is enough: kiln finds the wheel's library (`.so.13` in
/// `nvidia/cu13/lib` today) in the Python environment, with no LD_LIBRARY_PATH or symlink.
#[test]
fn the_pip_wheel_is_found_and_named() {
    let Some(dir) = wheel_lib_dir() else {
        skip_support::skip(
            "python3 has no nvidia-cuda-nvrtc wheel (pip install nvidia-cuda-nvrtc)",
        );
        return;
    };
    let on_loader_path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    assert!(
        nvrtc_available(),
        "the wheel's libnvrtc in {} was not loaded: {:?}",
        dir.display(),
        kiln_cuda::nvrtc_library()
    );
    let loaded = kiln_cuda::nvrtc_library().expect("loaded");
    if !on_loader_path.contains("nvidia") {
        assert!(loaded.starts_with(&dir.display().to_string()), "{loaded}");
    }
    let (major, _) = kiln_cuda::nvrtc_version().expect("version");
    assert!(major >= 12, "NVRTC {major}");
}

#[test]
fn bad_arch_is_a_typed_error() {
    let c = &all_cases()[0];
    let (_, program) = schedule_case(c, &SchedOptions::default()).expect("schedules");
    assert!(matches!(
        kiln_cuda::compile(&program, "compute_90"),
        Err(CudaError::BadArch { .. })
    ));
}

/// Which kernels get which extra shapes is decided from the kernel IR alone (no NVRTC needed).
#[test]
fn specialised_shapes_follow_the_kernel_ir() {
    use kiln_cuda::codegen::KernelVariants;
    let variants_of = |name: &str| -> Vec<KernelVariants> {
        let lc = large_cases()
            .into_iter()
            .find(|lc| lc.case.name == name)
            .expect("case exists");
        let (_, p) = schedule_case(&lc.case, &SchedOptions::default()).expect("schedules");
        p.kernels
            .iter()
            .map(|k| KernelVariants::of(&p, k))
            .collect()
    };
    let lanes = |v: &[KernelVariants]| -> Vec<Option<u32>> {
        v.iter()
            .map(|k| k.vector.as_ref().map(|plan| plan.lanes))
            .collect()
    };
    // 16 bytes of the element type per access, for every elementwise kernel.
    assert_eq!(lanes(&variants_of("ew_vector_f32")), [Some(4), Some(4)]);
    assert_eq!(lanes(&variants_of("ew_vector_f16")), [Some(8), Some(8)]);
    assert_eq!(lanes(&variants_of("ew_vector_f64")), [Some(2), Some(2)]);
    // f32 in, f16 out: element sizes differ.
    assert_eq!(lanes(&variants_of("cast_f32_to_f16")), [None]);
    let rows = variants_of("rows_f32");
    assert!(rows.iter().all(|v| v.block_reduce && v.vector.is_none()));
    // A transposed read is not contiguous in the innermost loop variable; a constant row length
    // that is no multiple of the lanes rules the shape out statically.
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "layout_f32")
        .expect("case exists");
    let (_, p) = schedule_case(&c, &SchedOptions::default()).expect("schedules");
    let mut permutations = 0;
    for k in &p.kernels {
        let v = KernelVariants::of(&p, k);
        assert!(!v.block_reduce, "{}", k.name);
        if k.name.ends_with("_b") || k.name.ends_with("_c") {
            assert!(v.vector.is_none(), "{} is a permutation", k.name);
            permutations += 1;
        }
    }
    assert_eq!(
        permutations, 2,
        "the layout case has its two permutation kernels"
    );
}
