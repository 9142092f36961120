//! Helpers of the CLI tests: run the built `kiln` binary on temp dirs, write .npy inputs.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_ir::{DType, Tensor};

/// A graph file of the repository's examples.
pub fn example_graph(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/graphs")
        .join(format!("{name}.kiln"))
}

/// A scratch dir with a cache dir inside it (created by kiln itself, private).
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }
    /// Runs `kiln ARGS --cache-dir <cache>` (the environment's cache is never touched).
    pub fn kiln(&self, args: &[&str]) -> Output {
        self.kiln_with_cache(args, &self.cache())
    }
    pub fn kiln_with_cache(&self, args: &[&str], cache: &Path) -> Output {
        self.kiln_env_with_cache(args, cache, &[])
    }
    /// Runs `kiln ARGS --cache-dir <cache>` with extra environment variables.
    pub fn kiln_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.kiln_env_with_cache(args, &self.cache(), env)
    }
    fn kiln_env_with_cache(&self, args: &[&str], cache: &Path, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args)
            .arg("--cache-dir")
            .arg(cache)
            .env("KILN_CACHE_DIR", cache)
            .env_remove("KILN_LOG")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .env_remove("KILN_REMOTE_CACHE");
        for (name, value) in env {
            cmd.env(name, value);
        }
        cmd.output().expect("the kiln binary runs")
    }
    /// Writes `t` as `<name>.npy` and returns the path.
    pub fn npy(&self, name: &str, t: &Tensor) -> PathBuf {
        let path = self.path(&format!("{name}.npy"));
        std::fs::write(&path, kiln_cli::npy::encode(t)).expect("write npy");
        path
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kiln failed ({:?}):\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts failure with `code`, one `kiln: error:` line and no panic; returns stderr.
pub fn fails(o: &Output, code: i32) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    err
}

/// The single JSON object kiln printed.
pub fn json(o: &Output) -> serde_json::Value {
    let text = ok(o);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn data(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f64(dtype, shape, &values)
}

/// Reads an output file back as the dtype kiln wrote it in.
pub fn read_npy(path: &Path, dtype: DType) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    kiln_cli::npy::decode(&bytes, dtype).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape, b.shape, "shapes differ");
    a.to_f64()
        .iter()
        .zip(b.to_f64())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}
