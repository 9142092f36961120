//! The README runs `cargo run --release --example quickstart`, then the walkthrough's
//! `cargo run --release -p kiln-cli -- ...`. Cargo resolves features per selection: when a
//! crate both builds use gets other features in one, it and everything above it compile again
//! (74 crates, minutes). This keeps the two resolutions equal for every crate the CLI uses.
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every package of a `cargo tree` selection with its activated features.
fn resolved(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.replace(" (*)", "");
        if let Some((package, features)) = line.trim().split_once('|') {
            let features = features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string);
            packages
                .entry(package.to_string())
                .or_insert_with(BTreeSet::new)
                .extend(features);
        }
    }
    packages
}

#[test]
fn the_walkthrough_reuses_the_quickstart_build() {
    let cli = resolved(&["-p", "kiln-cli", "-e", "normal,build"]);
    // An example build of the root package includes its dev-dependencies.
    let quickstart = resolved(&["-p", "kiln-suite", "-e", "normal,build,dev"]);
    let mut drift = Vec::new();
    for (package, features) in &cli {
        match quickstart.get(package) {
            None => drift.push(format!("{package}: not built by the quickstart")),
            Some(theirs) if theirs != features => drift.push(format!(
                "{package}: kiln-cli {features:?}, quickstart {theirs:?}"
            )),
            Some(_) => {}
        }
    }
    assert!(drift.is_empty(), "{}", drift.join("\n"));
}
