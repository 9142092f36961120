//! Issue 13's file system attacks on the cache directory, replayed: nothing outside the cache
//! is read, written or deleted, and nothing planted hangs, aborts or costs unbounded work.
//! Attacks that need a second user run as root (chown to `nobody`) and skip with one line
//! otherwise.
mod common;

use common::*;
use kiln_cache::{Cache, CacheConfig, Lookup};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), None).expect("chown");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {path:?}"
    );
}

/// Runs `f` on a thread and fails the test if it has not returned after a minute: a planted
/// FIFO used to block forever, which would otherwise hang the whole suite.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not return"))
}

/// A directory outside the cache that looks like a shard: `ab/<64 hex>` files and more.
fn victim_tree(base: &Path) -> PathBuf {
    let outside = base.join("outside");
    for shard in ["ab", "de", "01"] {
        let dir = outside.join(shard);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a".repeat(64)), b"precious").unwrap();
        let key_dir = dir.join(format!("{shard}{}", "0".repeat(62)));
        std::fs::create_dir_all(&key_dir).unwrap();
        std::fs::write(key_dir.join("b".repeat(64)), b"precious").unwrap();
    }
    std::fs::write(outside.join("secret"), b"root only").unwrap();
    std::fs::set_permissions(outside.join("secret"), PermissionsExt::from_mode(0o600)).unwrap();
    outside
}

/// Every file under `dir` with its bytes, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn small(dir: &Path, max_size: u64) -> Cache {
    Cache::open(CacheConfig {
        max_size,
        ..config(dir)
    })
    .unwrap()
}

/// 13.1: `v1` a link to another directory; `clear` used to delete its two-hex subtrees.
#[test]
fn clear_with_v1_linked_elsewhere_touches_nothing_there() {
    let base = tempfile::tempdir().unwrap();
    let outside = victim_tree(base.path());
    let before = snapshot(&outside);
    let cache_dir = base.path().join("cache");
    std::fs::create_dir(&cache_dir).unwrap();
    symlink(&outside, cache_dir.join("v1")).unwrap();
    let cache = open(&cache_dir);
    cache.put(&entry(key(1), 8)).unwrap();
    cache.clear().unwrap();
    cache.prune(0).unwrap();
    cache.verify().unwrap();
    assert_eq!(snapshot(&outside), before);
    assert!(
        !std::fs::symlink_metadata(cache_dir.join("v1"))
            .unwrap()
            .is_symlink()
    );
}

/// 13.2: a shard or key directory swapped for a link: lookups, verify, prune and clear never
/// list, read or delete in the link's target.
#[test]
fn shard_and_key_links_are_never_followed() {
    let base = tempfile::tempdir().unwrap();
    let outside = victim_tree(base.path());
    let before = snapshot(&outside);
    let cache_dir = base.path().join("cache");
    let cache = open(&cache_dir);
    for byte in [1u8, 0xab, 0xde] {
        cache.put(&entry(key(byte), 8)).unwrap();
    }
    let v1 = cache_dir.join("v1");
    // The 0xab shard becomes a link; the 0xde key directory becomes a link.
    std::fs::remove_dir_all(v1.join("ab")).unwrap();
    symlink(outside.join("ab"), v1.join("ab")).unwrap();
    let de_key = key_dir(&cache_dir, &key(0xde));
    std::fs::remove_dir_all(&de_key).unwrap();
    symlink(
        outside.join("de").join(format!("de{}", "0".repeat(62))),
        &de_key,
    )
    .unwrap();
    for byte in [0xab, 0xde] {
        assert!(matches!(get_h(&cache, &key(byte), 8), Lookup::Miss));
    }
    let verify = cache.verify().unwrap();
    assert_eq!(verify.removed, Vec::new());
    cache.prune(0).unwrap();
    assert_eq!(snapshot(&outside), before);
    // A put through a planted link replaces the link, never writes through it.
    cache.put(&entry(key(0xab), 8)).unwrap();
    assert!(hit_artifact(get_h(&cache, &key(0xab), 8)).is_some());
    cache.clear().unwrap();
    assert_eq!(snapshot(&outside), before);
}

/// 13.3: levels below the top directory that are writable by others are refused.
#[test]
fn world_writable_levels_below_the_top_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let cache = open(base.path());
    cache.put(&entry(key(1), 8)).unwrap();
    let kdir = key_dir(base.path(), &key(1));
    std::fs::set_permissions(&kdir, PermissionsExt::from_mode(0o777)).unwrap();
    assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Miss));
    assert_eq!(cache.counters().untrusted, 1);
    let shard = kdir.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&kdir, PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&shard, PermissionsExt::from_mode(0o777)).unwrap();
    assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Miss));
    assert!(cache.put(&entry(key(1), 9)).is_err());
    std::fs::set_permissions(&shard, PermissionsExt::from_mode(0o700)).unwrap();
    assert!(hit_artifact(get_h(&cache, &key(1), 8)).is_some());
    let v1 = base.path().join("v1");
    std::fs::set_permissions(&v1, PermissionsExt::from_mode(0o777)).unwrap();
    assert!(Cache::open(config(base.path())).is_err());
    std::fs::set_permissions(&v1, PermissionsExt::from_mode(0o700)).unwrap();
}

/// 13.3: `v1`, shard, key and `locks` owned by another user; and that user's planted
/// `.tmp-stats-<pid>` links to a root-only file, which the counters used to write through.
#[test]
fn levels_owned_by_another_user_are_refused_and_planted_temps_never_written_through() {
    if !is_root() {
        eprintln!("skipped: needs root to chown to nobody");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let outside = victim_tree(base.path());
    let before = snapshot(&outside);
    let cache_dir = base.path().join("cache");
    let cache = open(&cache_dir);
    cache.put(&entry(key(1), 8)).unwrap();
    let v1 = cache_dir.join("v1");
    let pid = std::process::id();
    for p in pid..pid + 50 {
        symlink(outside.join("secret"), v1.join(format!(".tmp-stats-{p}"))).unwrap();
    }
    get_h(&cache, &key(1), 8);
    cache.flush_counters().unwrap();
    drop(cache);
    assert_eq!(snapshot(&outside), before);
    let kdir = key_dir(&cache_dir, &key(1));
    for dir in [kdir.clone(), kdir.parent().unwrap().to_path_buf()] {
        chown(&dir, NOBODY);
        let cache = open(&cache_dir);
        assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Miss));
        assert_eq!(cache.counters().untrusted, 1, "{dir:?}");
        chown(&dir, 0);
    }
    std::fs::create_dir_all(v1.join("locks")).unwrap();
    chown(&v1.join("locks"), NOBODY);
    assert!(open(&cache_dir).lock(&key(1)).is_err());
    chown(&v1.join("locks"), 0);
    chown(&v1, NOBODY);
    assert!(Cache::open(config(&cache_dir)).is_err());
    chown(&v1, 0);
    assert_eq!(snapshot(&outside), before);
}

/// 13.4: FIFOs at an entry's name, at the guard index and at `v1/stats`, and `stats` linked to
/// /dev/zero: every call returns, the FIFOs are removed, and the entry is recompiled.
#[test]
fn planted_fifos_and_devices_never_block_or_grow_memory() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().to_path_buf();
    let cache = open(&dir);
    cache.put(&entry(key(1), 8)).unwrap();
    cache.put(&entry(key(2), 8)).unwrap();
    let file = entry_files(&dir, &key(1)).remove(0);
    std::fs::remove_file(&file).unwrap();
    mkfifo(&file);
    let index = key_dir(&dir, &key(2)).join(".guards.idx");
    std::fs::remove_file(&index).unwrap();
    mkfifo(&index);
    let stats = dir.join("v1").join("stats");
    let _ = std::fs::remove_file(&stats);
    mkfifo(&stats);
    drop(cache);
    let (d, file2) = (dir.clone(), file.clone());
    let outcome = returns("lookups over planted FIFOs", move || {
        let cache = open(&d);
        let one = hit_artifact(get_h(&cache, &key(1), 8)).is_some();
        let two = hit_artifact(get_h(&cache, &key(2), 8)).is_some();
        let lifetime = cache.lifetime_counters().is_ok();
        cache.flush_counters().unwrap();
        (one, two, lifetime, file2.exists())
    });
    assert_eq!(outcome, (false, true, true, false));
    std::fs::remove_file(&stats).unwrap();
    symlink("/dev/zero", &stats).unwrap();
    let d = dir.clone();
    let totals = returns("stats linked to /dev/zero", move || {
        open(&d).lifetime_counters().unwrap()
    });
    assert_eq!(totals.hit, 0);
}

/// 13.5: a 1 TB sparse file at an entry's name and at the index, and a 2 GB one over the
/// size limit: refused from fstat before any allocation, removed, and counted untrusted.
#[test]
fn sparse_huge_files_are_refused_before_reading_and_removed() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path();
    let cache = small(dir, 1 << 20);
    cache.put(&entry(key(1), 8)).unwrap();
    cache.put(&entry(key(2), 8)).unwrap();
    let file = entry_files(dir, &key(1)).remove(0);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let index = key_dir(dir, &key(2)).join(".guards.idx");
    std::fs::File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let planted = key_dir(dir, &key(2)).join("c".repeat(64));
    std::fs::File::create(&planted)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    assert!(matches!(get_h(&cache, &key(1), 8), Lookup::Miss));
    assert!(!file.exists());
    assert_eq!(cache.counters().untrusted, 1);
    let second = get_h(&cache, &key(2), 8);
    assert!(
        matches!(second, Lookup::Hit(_)),
        "{second:?} {:?}",
        cache.counters()
    );
    assert!(!index.exists() || std::fs::metadata(&index).unwrap().len() < 1 << 20);
    // A lookup that walks every entry of the key meets the planted one too.
    assert!(matches!(
        get_h(&cache, &key(2), 9),
        Lookup::GuardMiss { .. }
    ));
    assert!(!planted.exists());
    cache.stats().unwrap();
    cache.list().unwrap();
    cache.verify().unwrap();
}

/// 13.6: thousands of garbage entry files under one key: a lookup reads and removes a
/// bounded number of them, and `verify` removes them all (one directory read per removal
/// used to make this quadratic).
#[test]
fn garbage_under_a_key_costs_a_lookup_a_bounded_amount_of_cleaning() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path();
    let cache = open(dir);
    cache.put(&entry(key(1), 8)).unwrap();
    let kdir = key_dir(dir, &key(1));
    const GARBAGE: usize = 3000;
    for i in 0..GARBAGE {
        std::fs::write(kdir.join(format!("{i:064x}")), b"garbage").unwrap();
    }
    assert!(hit_artifact(get_h(&cache, &key(1), 8)).is_some());
    let left = entry_files(dir, &key(1)).len() - 1;
    assert!(
        (GARBAGE - 256..GARBAGE).contains(&left),
        "{left} garbage files left"
    );
    let report = cache.verify().unwrap();
    assert_eq!(report.removed.len(), left);
    assert_eq!(entry_files(dir, &key(1)).len(), 1);
}

/// 13.13: `v1/size` a link; a symlinked `stats.lock`; stats created 0600.
#[test]
fn size_and_stats_lock_links_are_replaced_and_stats_is_private() {
    let base = tempfile::tempdir().unwrap();
    let outside = victim_tree(base.path());
    let before = snapshot(&outside);
    let dir = base.path().join("cache");
    let cache = open(&dir);
    cache.put(&entry(key(1), 8)).unwrap();
    let v1 = dir.join("v1");
    std::fs::remove_file(v1.join("size")).unwrap();
    symlink(outside.join("secret"), v1.join("size")).unwrap();
    cache.prune(1 << 30).unwrap();
    cache.clear().unwrap();
    get_h(&cache, &key(1), 8);
    cache.flush_counters().unwrap();
    let _ = std::fs::remove_file(v1.join("stats.lock"));
    symlink(outside.join("secret"), v1.join("stats.lock")).unwrap();
    get_h(&cache, &key(1), 8);
    cache.flush_counters().unwrap();
    assert_eq!(cache.lifetime_counters().unwrap().miss, 2);
    assert_eq!(snapshot(&outside), before);
    let mode = std::fs::metadata(v1.join("stats")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// 13.13: a nest deeper than the descriptor limit under a shard (30,000 deep in the report,
/// against a limit of 20,000 there): `clear` removes it with two descriptors. The limit is
/// lowered to 1,024 (the usual default; this binary's other tests hold a few) so that a nest
/// of 3,000 exceeds it without 60,000 slow directory operations.
#[test]
fn clear_removes_a_nest_deeper_than_the_descriptor_limit() {
    use rustix::fs::{Mode, OFlags};
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_cur.min(1024);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let depth = usize::try_from(limit.rlim_cur).unwrap() * 3;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path();
    let cache = open(dir);
    cache.put(&entry(key(1), 8)).unwrap();
    let shard = key_dir(dir, &key(1)).parent().unwrap().to_path_buf();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY;
    let mut fd = rustix::fs::open(&shard, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&fd, "d", Mode::RWXU).unwrap();
        fd = rustix::fs::openat(&fd, "d", flags, Mode::empty()).unwrap();
    }
    drop(fd);
    cache.clear().unwrap();
    assert!(!shard.exists());
}

/// 13.13: leftovers of dead counter writers are removed by prune like other temp files.
#[test]
fn stale_stats_temps_are_cleaned() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path();
    let cache = open(dir);
    cache.put(&entry(key(1), 8)).unwrap();
    let stale = dir.join("v1").join(".tmp-stats-4242");
    std::fs::write(&stale, b"x").unwrap();
    let old = std::time::SystemTime::now() - kiln_cache::TEMP_MAX_AGE * 2;
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let report = cache.prune(1 << 30).unwrap();
    assert_eq!(report.temp_files_removed, 1);
    assert!(!stale.exists());
}

/// Unmounts on drop, so that a failing assertion does not leave the mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// 13.13: on a full disk the lifetime counters are kept (rewritten in place) and no
/// `.tmp-stats-*` file is left behind.
#[test]
fn counters_survive_a_full_disk_without_leftovers() {
    let root = tempfile::tempdir().unwrap();
    let mount_point = root.path().join("tiny");
    std::fs::create_dir(&mount_point).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(&mount_point)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("skipped: cannot mount a 64 KiB tmpfs: {other:?}");
            return;
        }
    }
    let _mount = Mount(mount_point.clone());
    let dir = mount_point.join("cache");
    let cache = open(&dir);
    cache.put(&entry(key(1), 8)).unwrap();
    get_h(&cache, &key(1), 8);
    cache.flush_counters().unwrap();
    let mut filler = std::fs::File::create(mount_point.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    for _ in 0..3 {
        get_h(&cache, &key(1), 8);
    }
    cache.flush_counters().unwrap();
    assert_eq!(cache.lifetime_counters().unwrap().hit, 4);
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("v1"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}
