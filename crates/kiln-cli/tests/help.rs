//! The help texts describe every flag and point at what a new user needs: the environment
//! variables, the graph language, the scalar shape syntax.
mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let s = Scratch::new();
    let mut all = args.to_vec();
    all.push("--help");
    ok(&s.kiln(&all))
}

/// The description clap prints for `flag`: the rest of its line (short help), else the lines
/// below it up to the next blank line (long help); empty when there is none.
fn described(text: &str, flag: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(flag))
        .unwrap_or_else(|| panic!("no {flag} in:\n{text}"));
    // Short help: the description follows on the same line.
    let same_line = lines[at].trim_start()[flag.len()..].trim();
    if !same_line.is_empty() {
        return same_line.to_string();
    }
    lines[at + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn top_level_help_names_the_environment_and_the_graph_language() {
    let text = help(&[]);
    for var in [
        "KILN_CACHE_DIR",
        "KILN_CACHE_MAX_SIZE",
        "KILN_CACHE_SECRET",
        "KILN_REMOTE_CACHE",
        "KILN_NVRTC",
        "KILN_LOG",
    ] {
        assert!(text.contains(var), "{var} missing:\n{text}");
    }
    assert!(
        text.contains("graph language") && text.contains("examples/graphs"),
        "{text}"
    );
    assert!(text.contains("doctor"), "{text}");
}

#[test]
fn every_json_flag_and_file_argument_is_described() {
    for cmd in [
        &["cache", "stats"][..],
        &["cache", "list"],
        &["cache", "explain"],
        &["run"],
        &["compile"],
    ] {
        let text = help(cmd);
        assert!(!described(&text, "--json").is_empty(), "{cmd:?}:\n{text}");
    }
    for cmd in ["export", "import"] {
        let text = help(&["cache", cmd]);
        assert!(!described(&text, "<FILE>").is_empty(), "{cmd}:\n{text}");
    }
    let explain = help(&["cache", "explain"]);
    assert!(explain.contains("NAME=scalar"), "{explain}");
    let run = help(&["run"]);
    assert!(run.contains("--exact-inputs"), "{run}");
    assert!(described(&run, "--json").contains("path"), "{run}");
}
