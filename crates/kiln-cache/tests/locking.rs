//! Per-key exclusive locks.
mod common;

use common::*;
use std::fs::TryLockError;
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
    // Another open file description (as another process would have) is excluded too.
    let file = std::fs::File::open(held.path()).unwrap();
    assert!(matches!(file.try_lock(), Err(TryLockError::WouldBlock)));
    drop(held);
    assert!(file.try_lock().is_ok());
    file.unlock().unwrap();
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

/// The lock dies with its holder: a process killed while holding it does not block others.
/// Uses util-linux `flock(1)`, which takes the same flock(2) lock as `File::lock`.
#[test]
fn a_lock_held_by_a_killed_process_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let lock_path = cache.lock(&key(4)).unwrap().path().to_path_buf();
    let Ok(mut child) = std::process::Command::new("flock")
        .arg("-o")
        .arg(&lock_path)
        .args(["sleep", "120"])
        .spawn()
    else {
        eprintln!("flock(1) not installed; covered by the drop test above");
        return;
    };
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
