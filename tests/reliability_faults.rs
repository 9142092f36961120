//! Storage faults through the driver, caused on disk: a missing, misplaced, insecure,
//! read-only-like or full cache directory, and entries that are not regular files. Every
//! compile succeeds with correct outputs; the cache is bypassed (with a reason naming the path
//! and the fix) or its write error is counted; nothing reaches the user as an error.
//!
//! Tests run as root, where chmod 0500 stops nothing, so "cannot write" is made with a regular
//! file where a directory must be, and "no space" with a 64 KiB tmpfs (skipped, with the
//! reason printed, where mounting is not permitted).
mod reliability_support;
mod skip_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::{CacheKey, CompileOptions, CompiledFunction, Compiler, DynamicPolicy, Outcome, Tensor};
use reliability_support::*;

/// Dynamic shapes (sizes of at least 2): the in-memory reuse after `prepare` works there,
/// so that each call below makes exactly one cache lookup.
fn compiler(dir: &Path) -> Compiler {
    Compiler::new(
        CompileOptions::default()
            .cache_dir(dir)
            .dynamic(DynamicPolicy::Dynamic),
    )
}

/// A function and its inputs at `size`.
fn subject(
    compiler: &Compiler,
    graph_index: usize,
    size: usize,
) -> (CompiledFunction, Vec<Tensor>) {
    let f = compiler.compile(&graph(graph_index)).expect("compile");
    let inputs = inputs_for(f.graph(), size, 11);
    (f, inputs)
}

/// Resets `f`, obtains its specialisation for `inputs` and checks the outputs.
fn call(f: &CompiledFunction, inputs: &[Tensor], what: &str) -> Outcome {
    let shapes = shapes_of(inputs);
    f.reset();
    let report = f
        .prepare(&shapes)
        .unwrap_or_else(|e| panic!("{what}: a cache fault reached the user: {e}"));
    run_and_check(f, inputs, what);
    report.outcome
}

/// The key of graph `graph_index` at `size`, found by compiling it in a scratch cache (keys do
/// not depend on the cache directory).
fn key_of(graph_index: usize, size: usize) -> CacheKey {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (f, inputs) = subject(&compiler(scratch.path()), graph_index, size);
    call(&f, &inputs, "scratch");
    f.last_report().and_then(|r| r.key).expect("a key")
}

fn bypass_reason(outcome: &Outcome, what: &str) -> String {
    match outcome {
        Outcome::Bypass(reason) => reason.clone(),
        other => panic!("{what}: expected a bypass, got {other:?}"),
    }
}

#[test]
fn a_missing_directory_is_created_private() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("not/yet/there");
    let c = compiler(&dir);
    let (f, inputs) = subject(&c, 0, 3);
    assert_eq!(call(&f, &inputs, "first"), Outcome::Miss);
    assert_eq!(call(&f, &inputs, "second"), Outcome::Hit);
    let mode = std::fs::metadata(&dir)
        .expect("created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "created private");
}

#[test]
fn a_regular_file_instead_of_the_directory_is_bypassed() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("cache");
    std::fs::write(&dir, b"not a directory").expect("plant a file");
    let c = compiler(&dir);
    assert!(c.cache().is_none());
    let (f, inputs) = subject(&c, 1, 4);
    let reason = bypass_reason(&call(&f, &inputs, "file as dir"), "file as dir");
    assert!(reason.contains(&dir.display().to_string()), "{reason}");
    assert!(reason.contains("not a directory"), "{reason}");
    assert_eq!(std::fs::read(&dir).expect("untouched"), b"not a directory");
}

#[test]
fn a_world_writable_directory_is_refused_with_the_fix() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("shared");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let c = compiler(&dir);
    let (f, inputs) = subject(&c, 2, 5);
    let reason = bypass_reason(&call(&f, &inputs, "0777"), "0777");
    assert!(reason.contains(&dir.display().to_string()), "{reason}");
    assert!(
        reason.contains(&format!("chmod 700 {}", dir.display())),
        "{reason}"
    );
    assert!(entry_files(&dir).is_empty(), "nothing written into it");
    // Once fixed, the cache is used.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let (f, inputs) = subject(&compiler(&dir), 2, 5);
    assert_eq!(call(&f, &inputs, "fixed"), Outcome::Miss);
}

#[test]
fn a_file_where_the_version_directory_belongs_is_bypassed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("v1"), b"x").expect("plant");
    let c = compiler(dir.path());
    let (f, inputs) = subject(&c, 0, 4);
    let reason = bypass_reason(&call(&f, &inputs, "v1 file"), "v1 file");
    assert!(reason.contains("v1"), "{reason}");
}

/// Writes fail (a file where the key's shard directory must be): every compile still
/// succeeds, misses again next time, and counts `write_error`.
#[test]
fn unwritable_shard_counts_write_errors() {
    let key = key_of(0, 6);
    let dir = tempfile::tempdir().expect("tempdir");
    let hex = key.to_string();
    std::fs::create_dir_all(dir.path().join("v1")).expect("mkdir");
    std::fs::write(dir.path().join("v1").join(&hex[..2]), b"blocks the shard").expect("plant");
    let c = compiler(dir.path());
    let (f, inputs) = subject(&c, 0, 6);
    for attempt in 1..=2u64 {
        assert_eq!(call(&f, &inputs, "unwritable"), Outcome::Miss);
        let counters = c.cache().expect("cache").counters();
        assert_eq!(counters.write_error, attempt, "{counters:?}");
    }
    // Other keys are unaffected.
    let (g, inputs) = subject(&c, 1, 6);
    assert_eq!(call(&g, &inputs, "other key"), Outcome::Miss);
    assert_eq!(call(&g, &inputs, "other key again"), Outcome::Hit);
}

/// The lock directory cannot be created: compiles go on without the lock guarantee.
#[test]
fn an_unusable_lock_directory_only_costs_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("v1")).expect("mkdir");
    std::fs::write(dir.path().join("v1/locks"), b"not a directory").expect("plant");
    let c = compiler(dir.path());
    let (f, inputs) = subject(&c, 2, 3);
    assert_eq!(call(&f, &inputs, "no locks"), Outcome::Miss);
    assert_eq!(call(&f, &inputs, "no locks again"), Outcome::Hit);
}

/// A directory or a symbolic link under an entry's name is never read: counted untrusted.
#[test]
fn non_regular_entries_are_skipped_as_untrusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = compiler(dir.path());
    let (f, inputs) = subject(&c, 0, 7);
    assert_eq!(call(&f, &inputs, "first"), Outcome::Miss);
    let entry = entry_files(dir.path()).pop().expect("an entry");
    let real = entry.with_file_name("elsewhere");
    std::fs::rename(&entry, &real).expect("move the entry away");
    std::os::unix::fs::symlink(&real, &entry).expect("symlink under the entry's name");
    let before = c.cache().expect("cache").counters().untrusted;
    assert_eq!(call(&f, &inputs, "symlinked entry"), Outcome::Miss);
    assert_eq!(c.cache().expect("cache").counters().untrusted, before + 1);

    let (g, inputs) = subject(&c, 1, 7);
    assert_eq!(call(&g, &inputs, "first"), Outcome::Miss);
    let key = g.last_report().and_then(|r| r.key).expect("key");
    let files: Vec<PathBuf> = entry_files(dir.path())
        .into_iter()
        .filter(|p| p.parent() == Some(key_dir(dir.path(), &key).as_path()))
        .collect();
    for file in files {
        std::fs::remove_file(&file).expect("remove");
        std::fs::create_dir(&file).expect("a directory under the entry's name");
    }
    let before = c.cache().expect("cache").counters().untrusted;
    assert_eq!(call(&g, &inputs, "directory entry"), Outcome::Miss);
    assert_eq!(c.cache().expect("cache").counters().untrusted, before + 1);
}

/// Unmounts on drop, so that a failing assertion does not leave the mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_file_system_counts_write_errors() {
    let root = tempfile::tempdir().expect("tempdir");
    let mount_point = root.path().join("tiny");
    std::fs::create_dir(&mount_point).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(&mount_point)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            skip_support::skip(&format!(
                "cannot mount a 64 KiB tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return;
        }
        Err(e) => {
            skip_support::skip(&format!("cannot run mount: {e}"));
            return;
        }
    }
    let _mount = Mount(mount_point.clone());
    let dir = mount_point.join("cache");
    let c = compiler(&dir);
    let (f, inputs) = subject(&c, 0, 3);
    assert_eq!(call(&f, &inputs, "before full"), Outcome::Miss);
    // The entry reaches the disk after the compile returns (a store thread): wait for it, or
    // the filler below takes its space.
    c.cache().expect("cache").flush();
    // Fill what is left.
    let filler = mount_point.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let before = c.cache().expect("cache").counters().write_error;
    let (g, inputs_g) = subject(&c, 1, 3);
    for attempt in 1..=2u64 {
        assert_eq!(call(&g, &inputs_g, "full"), Outcome::Miss);
        let counters = c.cache().expect("cache").counters();
        assert_eq!(counters.write_error, before + attempt, "{counters:?}");
    }
    // What was stored before still serves; no temp file is left by the failed writes.
    assert_eq!(call(&f, &inputs, "stored before"), Outcome::Hit);
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    // Space again: the cache stores again.
    std::fs::remove_file(&filler).expect("remove filler");
    assert_eq!(call(&g, &inputs_g, "space again"), Outcome::Miss);
    assert_eq!(call(&g, &inputs_g, "stored"), Outcome::Hit);
}

/// A specialisation whose guards name symbols it fixed to constants (every static one:
/// `N == 4`; dynamic ones with a size-1 dim: `N == 1`) must still be found in memory: otherwise
/// every later `run` with the same shapes would take the key lock, look the cache up, load the
/// artifact again and push one more specialisation, growing without bound.
#[test]
fn repeated_static_calls_are_served_from_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .dynamic(DynamicPolicy::Static),
    );
    let (f, inputs) = subject(&c, 0, 4);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    for _ in 0..5 {
        f.run(&refs).expect("run");
    }
    let counters = c.counters();
    assert_eq!(
        (counters.miss, counters.hit, counters.memory),
        (1, 0, 4),
        "{counters:?}"
    );
}
