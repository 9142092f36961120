//! Per-key exclusive locks.
mod common;

use common::*;
use std::sync::Arc;

#[test]
fn a_held_key_lock_excludes_others_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(dir.path()));
    let held = cache.lock(&key(1)).unwrap();
    let other = Arc::clone(&cache);
    let blocked = std::thread::spawn(move || other.try_lock(&key(1)).unwrap().is_none());
    assert!(blocked.join().unwrap(), "a second locker got the lock");
    // Another key is independent.
    assert!(cache.try_lock(&key(2)).unwrap().is_some());
    // Another cache on the directory (as another process would open it) is excluded too.
    let elsewhere = open(dir.path());
    assert!(elsewhere.try_lock(&key(1)).unwrap().is_none());
    drop(held);
    assert!(elsewhere.try_lock(&key(1)).unwrap().is_some());
    let other = Arc::clone(&cache);
    let acquired = std::thread::spawn(move || other.try_lock(&key(1)).unwrap().is_some());
    assert!(acquired.join().unwrap());
}

#[test]
fn a_blocking_lock_waits_for_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(dir.path()));
    let held = cache.lock(&key(3)).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let other = Arc::clone(&cache);
    let waiter = std::thread::spawn(move || {
        let _lock = other.lock(&key(3)).unwrap();
        sender.send(()).unwrap();
    });
    assert!(
        receiver
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err()
    );
    drop(held);
    receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    waiter.join().unwrap();
}

/// On Linux every key's lock is a byte of one shared file: no file per key.
#[cfg(target_os = "linux")]
#[test]
fn locks_are_bytes_of_one_shared_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let (a, b) = (cache.lock(&key(5)).unwrap(), cache.lock(&key(6)).unwrap());
    assert_eq!(a.path(), b.path());
    assert!(a.path().ends_with(kiln_cache::SHARED_LOCK_FILE));
    assert_ne!(a.byte(), b.byte());
    let names: Vec<_> = std::fs::read_dir(a.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [kiln_cache::SHARED_LOCK_FILE]);
}

const HOLDER_ENV: &str = "KILN_TEST_LOCK_HOLDER";

/// Child mode of the test below: takes key 4's lock in the cache at `$KILN_TEST_LOCK_HOLDER`,
/// says so on stdout and sleeps until killed.
#[test]
fn child_lock_holder() {
    let Some(dir) = std::env::var_os(HOLDER_ENV) else {
        return;
    };
    let cache = open(std::path::Path::new(&dir));
    let _held = cache.lock(&key(4)).unwrap();
    println!("locked");
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// The lock dies with its holder: a process killed while holding it does not block others.
#[test]
fn a_lock_held_by_a_killed_process_is_released() {
    if std::env::var_os(HOLDER_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_lock_holder",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cache.try_lock(&key(4)).unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "child never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cache.try_lock(&key(4)).unwrap().is_some());
}
