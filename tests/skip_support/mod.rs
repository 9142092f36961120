//! How a test that cannot run here (no NVRTC, no GPU, no Redis, no mount) says so.
//!
//! libtest captures `println!` of passing tests, so a skip printed that way is invisible and
//! the test looks like a pass. [`skip`] writes its line to the process's stderr handle, which
//! the capture does not intercept, so `cargo test --workspace` shows every skip where it
//! happens; it also records the line as a file under `<target>/tmp/kiln-skips/`, which
//! `.ci/run` lists after the tests. Every test crate includes this one file with `#[path]`.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::Write;
use std::path::PathBuf;

/// Where skip records go: `<target dir>/tmp/kiln-skips` (cargo's per-target scratch dir).
pub fn skip_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-skips")
}

/// Reports that the current test is skipped, and why; the caller then returns.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("main");
    let line = format!(
        "skipped: {} {}::{test}: {reason}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_CRATE_NAME")
    );
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    let file: String = format!(
        "{}-{}-{test}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_CRATE_NAME")
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        }
    })
    .collect();
    let dir = skip_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(file), format!("{line}\n"));
    }
}
