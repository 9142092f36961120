//! A skipped test must not look like a pass: its `skipped:` line reaches `cargo test`'s
//! output without `--nocapture`, and a record of it is left for `.ci/run` to list.
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use std::process::Command;

/// Run only by the test below, in a child process, as `cargo test` would run it.
#[test]
#[ignore = "a fixture: run by skip_lines_survive_the_output_capture"]
fn fixture_that_skips() {
    skip_support::skip("a fixture that always skips");
}

#[test]
fn skip_lines_survive_the_output_capture() {
    let name = "fixture_that_skips";
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", name, "--test-threads", "1"])
        .output()
        .expect("the test binary runs");
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = format!("skipped: kiln-cli skips::{name}: a fixture that always skips");
    assert!(all.contains(&line), "{all}");
    let record = skip_support::skip_dir().join(format!("kiln-cli-skips-{name}"));
    let text = std::fs::read_to_string(&record).expect("the skip is recorded");
    assert_eq!(text.trim(), line);
}
