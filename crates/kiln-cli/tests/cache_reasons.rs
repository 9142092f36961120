//! Cache behaviour that used to be silent (issue 14, item 9; issue 13, item 10): a bypass says
//! why, an entry over the size limit is reported, an unusable secret bypasses loudly, a new
//! secret leaves older entries in place counted `untrusted`, looking at a directory that does
//! not exist does not create it, and counts are pluralised.
mod common;

use std::process::{Command, Output};

use common::*;
use kiln::DType;

/// `kiln ARGS --cache-dir <cache>` with extra environment variables.
fn kiln_env(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args)
        .arg("--cache-dir")
        .arg(s.cache())
        .env("KILN_CACHE_DIR", s.cache())
        .env_remove("KILN_LOG")
        .env_remove("RUST_LOG")
        .env_remove("KILN_CACHE_SECRET")
        .env_remove("KILN_CACHE_SECRET_FILE")
        .env_remove("KILN_CACHE_MAX_SIZE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the kiln binary runs")
}

/// `kiln run seed_mul` on 10-element inputs.
fn run_mul(s: &Scratch, env: &[(&str, &str)]) -> Output {
    let (x, y) = (
        s.npy("x", &data(DType::F32, &[10], 1)),
        s.npy("y", &data(DType::F32, &[10], 2)),
    );
    let graph = example_graph("seed_mul");
    kiln_env(
        s,
        &[
            "run",
            graph.to_str().unwrap(),
            "-i",
            &format!("x={}", x.display()),
            "-i",
            &format!("y={}", y.display()),
        ],
        env,
    )
}

#[test]
fn an_entry_over_the_size_limit_is_a_bypass_that_says_why() {
    let s = Scratch::new();
    let out = run_mul(
        &s,
        &[("KILN_CACHE_MAX_SIZE", "100"), ("KILN_LOG", "kiln=info")],
    );
    let text = ok(&out);
    assert!(text.contains("cache bypass ("), "{text}");
    assert!(text.contains("KILN_CACHE_MAX_SIZE"), "{text}");
    let log = stderr(&out);
    assert!(
        !log.contains("reason=\"\""),
        "no empty reason in the log: {log}"
    );
    assert!(log.contains("reason="), "the bypass logs its reason: {log}");
}

#[test]
fn a_miss_logs_no_empty_reason() {
    let s = Scratch::new();
    let out = run_mul(&s, &[("KILN_LOG", "kiln=info")]);
    assert!(ok(&out).contains("cache miss"));
    let log = stderr(&out);
    assert!(log.contains("compiled"), "{log}");
    assert!(!log.contains("reason="), "{log}");
}

#[test]
fn an_empty_secret_bypasses_the_cache_loudly_and_writes_nothing() {
    let s = Scratch::new();
    let out = run_mul(&s, &[("KILN_CACHE_SECRET", "")]);
    let text = ok(&out);
    assert!(text.contains("cache bypass ("), "{text}");
    assert!(text.contains("KILN_CACHE_SECRET"), "{text}");
    assert!(
        stderr(&out).contains("KILN_CACHE_SECRET is set but empty"),
        "{}",
        stderr(&out)
    );
    assert!(
        find_entry_file(&s.cache()).is_none(),
        "nothing written unsigned"
    );
    let missing = run_mul(
        &s,
        &[("KILN_CACHE_SECRET_FILE", "/nonexistent/kiln-secret")],
    );
    assert!(
        ok(&missing).contains("cache bypass ("),
        "{}",
        stdout(&missing)
    );
}

#[test]
fn setting_a_secret_leaves_older_entries_untrusted_and_says_so_once() {
    let s = Scratch::new();
    assert!(ok(&run_mul(&s, &[])).contains("cache miss"));
    let entry = find_entry_file(&s.cache()).expect("an unsigned entry");
    let signed = [("KILN_CACHE_SECRET", "fleet")];
    let out = run_mul(&s, &signed);
    assert!(ok(&out).contains("cache miss"), "{}", stdout(&out));
    let log = stderr(&out);
    assert!(
        log.contains("KILN_CACHE_SECRET was set or changed"),
        "{log}"
    );
    assert!(entry.exists(), "the older entry is left for prune");
    let stats = json(&kiln_env(&s, &["cache", "stats", "--json"], &signed));
    assert_eq!(stats["lifetime"]["untrusted"], 1, "{stats}");
    assert_eq!(stats["lifetime"]["corrupt"], 0, "{stats}");
    let again = run_mul(&s, &signed);
    assert!(ok(&again).contains("cache hit"), "{}", stdout(&again));
}

#[test]
fn stats_and_explain_of_a_missing_directory_do_not_create_it() {
    let s = Scratch::new();
    let missing = s.path("no-such-cache");
    let graph = example_graph("seed_mul");
    let stats = ok(&s.kiln_with_cache(&["cache", "stats"], &missing));
    assert!(stats.contains("does not exist"), "{stats}");
    let as_json = json(&s.kiln_with_cache(&["cache", "stats", "--json"], &missing));
    assert_eq!(as_json["exists"], false, "{as_json}");
    let explain = ok(&s.kiln_with_cache(
        &[
            "cache",
            "explain",
            graph.to_str().unwrap(),
            "--shape",
            "x=4",
            "--shape",
            "y=4",
        ],
        &missing,
    ));
    assert!(explain.contains("does not exist"), "{explain}");
    assert!(!missing.exists(), "nothing created");
}

#[test]
fn one_entry_is_one_entry() {
    let s = Scratch::new();
    ok(&run_mul(&s, &[]));
    let text = ok(&s.kiln(&["cache", "stats"]));
    assert!(text.contains("1 entry under 1 key,"), "{text}");
    let text = ok(&s.kiln(&["cache", "clear"]));
    assert!(text.contains("removed 1 entry ("), "{text}");
}

/// Some entry file under the cache dir (entries are named by their sha256).
fn find_entry_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(found) = find_entry_file(&p) {
                return Some(found);
            }
        } else if p.file_name()?.to_str()?.len() == 64 {
            return Some(p);
        }
    }
    None
}
