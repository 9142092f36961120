//! `kiln compile --emit`: kernel IR, Cranelift IR and CUDA C anywhere; PTX where libnvrtc is.
mod common;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use common::*;

fn emit(s: &Scratch, what: &str) -> std::process::Output {
    emit_with(s, what, &[])
}

fn emit_with(s: &Scratch, what: &str, extra: &[&str]) -> std::process::Output {
    let g = example_graph("pool_relu").display().to_string();
    let mut args = vec![
        "compile",
        &g,
        "--shape",
        "x=2x4x8x8",
        "--shape",
        "s=1x4x1x1",
        "--emit",
        what,
    ];
    args.extend_from_slice(extra);
    s.kiln(&args)
}

fn gpu_present() -> bool {
    kiln_cuda::CudaDevice::new(0).is_ok()
}

#[test]
fn emits_kernel_ir_clif_and_cuda_without_a_gpu() {
    let s = Scratch::new();
    let ir = emit(&s, "kernel-ir");
    let text = ok(&ir);
    assert!(!text.trim().is_empty());
    // The summary goes to stderr so that stdout is only code.
    assert!(stderr(&ir).contains("graph `pool_relu`"), "{}", stderr(&ir));
    assert!(!text.contains("graph `pool_relu` for"), "{text}");
    let clif = ok(&emit(&s, "clif"));
    assert!(clif.contains("function"), "{clif}");
    let cuda = ok(&emit(&s, "cuda"));
    assert!(cuda.contains("__global__"), "{cuda}");
}

#[test]
fn emits_ptx_when_nvrtc_is_present() {
    let s = Scratch::new();
    let o = emit(&s, "ptx");
    if !kiln_cuda::nvrtc_available() {
        let err = fails(&o, 1);
        assert!(err.contains("libnvrtc"), "{err}");
        skip_support::skip("libnvrtc cannot be loaded here (kiln doctor says why)");
        return;
    }
    let ptx = ok(&o);
    assert!(ptx.contains(".entry") && ptx.contains("sm_90"), "{ptx}");
}

/// NVRTC's rejection is one line that names a file holding the log and the source; the log is
/// printed only with --verbose.
#[test]
fn nvrtc_rejections_are_one_line_with_the_log_in_a_file() {
    if !kiln_cuda::nvrtc_available() {
        skip_support::skip("libnvrtc cannot be loaded here (kiln doctor says why)");
        return;
    }
    let s = Scratch::new();
    let g = example_graph("softmax").display().to_string();
    let args = [
        "compile", &g, "--shape", "x=4x6", "--emit", "ptx", "--arch", "sm_999",
    ];
    let err = fails(&s.kiln(&args), 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("NVRTC rejected") && err.contains("sm_999"),
        "{err}"
    );
    let path = err
        .split("log and source in ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no log file named: {err}"));
    let saved = std::fs::read_to_string(path).expect("the named log file exists");
    assert!(saved.contains("__global__"), "{saved}");
    let _ = std::fs::remove_file(path);
    let mut verbose = args.to_vec();
    verbose.push("--verbose");
    let err = fails(&s.kiln(&verbose), 1);
    assert!(
        err.lines().count() > 5 && err.contains("__global__"),
        "{err}"
    );
}

#[test]
fn doctor_names_the_nvrtc_it_loaded() {
    let s = Scratch::new();
    let text = ok(&s.kiln(&["doctor"]));
    assert!(
        text.contains("cuda driver:") && text.contains("cache dir:"),
        "{text}"
    );
    let report = json(&s.kiln(&["doctor", "--json"]));
    assert_eq!(report["cache_dir"], s.cache().display().to_string());
    match kiln_cuda::nvrtc_library() {
        Ok(lib) => {
            assert_eq!(report["nvrtc"]["library"], lib.as_str(), "{report}");
            assert!(text.contains(&format!("from {lib}")), "{text}");
        }
        Err(tried) => {
            assert!(report["nvrtc"]["library"].is_null(), "{report}");
            assert_eq!(
                report["nvrtc"]["tried"].as_array().map(Vec::len),
                Some(tried.len())
            );
            assert!(text.contains("nvrtc: not found"), "{text}");
        }
    }
}

/// `kiln compile --emit cuda | head` (the README does this): a reader that stops early ends
/// kiln quietly, never with a panic about printing to stdout.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let s = Scratch::new();
    let g = example_graph("pool_relu").display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "compile",
            &g,
            "-s",
            "x=2x4x8x8",
            "-s",
            "s=1x4x1x1",
            "--emit",
            "cuda",
        ])
        .arg("--cache-dir")
        .arg(s.cache())
        .env_remove("RUST_BACKTRACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kiln starts");
    drop(child.stdout.take()); // the reader is gone before kiln writes
    let out = child.wait_with_output().expect("kiln ends");
    let err = stderr(&out);
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
}

/// Emitting CUDA C for the cuda backend needs no driver: only compiling for the cache (and
/// running) does. Without a GPU the code is printed and the summary says nothing was cached.
#[test]
fn cuda_backend_emits_cuda_c_without_a_driver() {
    let s = Scratch::new();
    let o = emit_with(&s, "cuda", &["--backend", "cuda", "--arch", "sm_80"]);
    let code = ok(&o);
    assert!(code.contains("__global__"), "{code}");
    if !gpu_present() {
        let err = stderr(&o);
        assert!(err.contains("nothing compiled into the cache"), "{err}");
        assert_eq!(err.matches("not available").count(), 1, "{err}");
        let j = json(&emit_with(&s, "cuda", &["--backend", "cuda", "--json"]));
        assert_eq!(j["cache"], "unavailable", "{j}");
        assert!(
            j["emit"].as_str().unwrap_or("").contains("__global__"),
            "{j}"
        );
    }
}

/// PTX for the cuda backend needs NVRTC only: without it the error names libnvrtc, never the
/// driver.
#[test]
fn cuda_backend_emits_ptx_with_nvrtc_only() {
    let s = Scratch::new();
    let o = emit_with(&s, "ptx", &["--backend", "cuda", "--arch", "sm_80"]);
    if !kiln_cuda::nvrtc_available() {
        let err = fails(&o, 1);
        assert!(
            err.contains("libnvrtc") && !err.contains("libcuda"),
            "{err}"
        );
        skip_support::skip("libnvrtc cannot be loaded here: the PTX assertion did not run");
        return;
    }
    let ptx = ok(&o);
    assert!(ptx.contains(".entry") && ptx.contains("sm_80"), "{ptx}");
}

/// An unknown `--arch` is refused with the flag and the expected form, before NVRTC is asked.
#[test]
fn bad_arch_names_the_flag() {
    let s = Scratch::new();
    let o = emit_with(&s, "ptx", &["--arch", "sm_x"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("--arch sm_x") && err.contains("sm_90"),
        "{err}"
    );
}

/// Compiling for the cuda backend without a driver fails once, with the reason said once.
#[test]
fn cuda_backend_unavailable_is_reported_once() {
    if gpu_present() {
        skip_support::skip("a GPU is present (this test covers machines without one)");
        return;
    }
    let s = Scratch::new();
    let g = example_graph("pool_relu").display().to_string();
    let o = s.kiln(&[
        "compile",
        &g,
        "--shape",
        "x=2x4x8x8",
        "--shape",
        "s=1x4x1x1",
        "--backend",
        "cuda",
    ]);
    let err = fails(&o, 1);
    assert_eq!(
        err.matches("the cuda backend is not available").count(),
        1,
        "{err}"
    );
}
