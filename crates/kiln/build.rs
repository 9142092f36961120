//! Hashes the sources of every crate that shapes generated code, so that a cache entry made by
//! one build of kiln is never served to an edited compiler (the seed hashes Inductor's own
//! source the same way). The hash reaches the crate as `KILN_SOURCE_HASH`.
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const HASHED: &[&str] = &[
    "kiln-shape/src",
    "kiln-ir/src",
    "kiln-sched/src",
    "kiln-cpu/src",
    "kiln-cuda/src",
    "kiln/src",
    "../kernels",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("rs" | "cuh")) {
            out.push(p);
        }
    }
}

fn main() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = vec![];
    for d in HASHED {
        let dir = crates.join(d);
        println!("cargo:rerun-if-changed={}", dir.display());
        files(&dir, &mut all);
    }
    all.sort();
    let mut h = Sha256::new();
    for f in &all {
        let rel = f.strip_prefix(&crates).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(f).unwrap_or_default());
        h.update([0]);
    }
    println!(
        "cargo:rustc-env=KILN_SOURCE_HASH={}",
        hex::encode(h.finalize())
    );
}
