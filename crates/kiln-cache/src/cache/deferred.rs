//! Stores off the caller's path.
//!
//! A miss's local store is a handful of file-system calls (0.2 ms on this project's machines,
//! more than the whole compile of a small graph). [`Cache::put_later`] hands them to the
//! process's store thread (started on the first store; a hand-off costs a wake-up, a thread
//! start per store cost 55 us here) while the caller goes on with the code it compiled. The key's lock travels with
//! the store and is released after it, so a lookup of the same key (another process, or
//! another compiler in this one) that finds nothing waits on the lock and then finds the
//! entry instead of compiling it again; lookups of other keys never wait.
//!
//! Durability: an entry is on disk once [`Cache::flush`] (or [`flush_pending_stores`])
//! returns, once any `Cache` drops, and before the process exits normally (an `atexit`
//! handler joins pending stores, so `main` returning, `std::process::exit` and an embedding
//! interpreter's exit all wait). A process killed before that loses the entry (a later
//! compile misses) but never leaves half of one: the store itself still publishes a whole file
//! by link or rename. No fsync, as PyTorch's and ccache's caches: a machine crash may lose
//! recent entries, which costs a recompile, never a wrong kernel (every read verifies).
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};

use super::{Cache, Prepared, PutOutcome, store_file};
use crate::counters::CounterBook;
use crate::entry::Entry;
use crate::error::CacheError;
use crate::key::CacheKey;
use crate::lock::KeyLock;
use crate::storage::Storage;

/// One queued local write, with the key's lock it releases once done.
struct Job {
    storage: Arc<dyn Storage>,
    counters: Arc<CounterBook>,
    max_size: u64,
    key: CacheKey,
    name: String,
    bytes: Vec<u8>,
    lock: KeyLock,
}

impl Job {
    fn run(self) {
        // A failed write is counted and logged once by `store_file`, as for `put`.
        let _ = store_file(
            self.storage.as_ref(),
            &self.counters,
            self.max_size,
            &self.key,
            &self.name,
            &self.bytes,
        );
        drop(self.lock);
    }
}

/// The store thread's queue, with the process that started it: a child made by `fork` has no
/// such thread and starts its own.
struct Writer {
    pid: u32,
    queue: Sender<Job>,
}

/// Stores queued to and finished by the store thread of process `pid`.
struct Progress {
    pid: u32,
    queued: u64,
    done: u64,
}

static WRITER: Mutex<Option<Writer>> = Mutex::new(None);
static PROGRESS: Mutex<Progress> = Mutex::new(Progress {
    pid: 0,
    queued: 0,
    done: 0,
});
/// Signalled when `done` catches up with `queued`.
static CAUGHT_UP: Condvar = Condvar::new();
/// Registers the exit handler once.
static AT_EXIT: Once = Once::new();

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cache {
    /// As [`Cache::put`], but the local write runs on the store thread, which holds `lock`
    /// (the key's, taken for the lookup that missed) until the entry is published. Returns
    /// [`PutOutcome::Queued`], or `TooLarge` at once; a failed write is counted and logged by
    /// the store thread as `put` would. Without a lock (the lock directory is unusable) or a
    /// store thread, the write happens here, as in `put`: only the lock makes a later lookup
    /// of the key wait for the entry instead of missing it.
    pub fn put_later(
        &self,
        entry: &Entry,
        lock: Option<KeyLock>,
    ) -> Result<PutOutcome, CacheError> {
        let Some(lock) = lock else {
            return self.put(entry);
        };
        let (name, bytes) = match self.prepare_store(entry)? {
            Prepared::Bytes { name, bytes } => (name, bytes),
            Prepared::TooLarge(outcome) => return Ok(outcome),
        };
        super::fast::forget_touches();
        let job = Job {
            storage: self.storage.clone(),
            counters: self.counters.clone(),
            max_size: self.max_size,
            key: entry.key,
            name,
            bytes,
            lock,
        };
        match enqueue(job) {
            None => Ok(PutOutcome::Queued),
            Some(job) => {
                job.run();
                Ok(PutOutcome::Stored)
            }
        }
    }

    /// Waits until every entry queued by [`Cache::put_later`] (by any cache of this process)
    /// is on disk or has failed.
    pub fn flush(&self) {
        flush_pending_stores();
    }
}

/// Queues `job` on this process's store thread, starting it if needed; gives the job back when
/// no thread can be started.
fn enqueue(job: Job) -> Option<Job> {
    AT_EXIT.call_once(register_exit_handler);
    let pid = std::process::id();
    let mut writer = lock(&WRITER);
    if writer.as_ref().is_none_or(|w| w.pid != pid) {
        *writer = start_writer(pid);
    }
    let Some(w) = writer.as_ref() else {
        return Some(job);
    };
    lock(&PROGRESS).queued += 1;
    let returned = w.queue.send(job).err()?;
    lock(&PROGRESS).queued -= 1;
    Some(returned.0)
}

/// Starts the store thread of process `pid` (its progress counted from zero).
fn start_writer(pid: u32) -> Option<Writer> {
    let (queue, jobs) = channel::<Job>();
    let spawned = std::thread::Builder::new()
        .name("kiln-cache-store".into())
        .spawn(move || {
            yield_to_callers();
            for job in jobs {
                // A panicking store loses its entry, never the count `flush` waits on.
                let _ = catch_unwind(AssertUnwindSafe(|| job.run()));
                let mut progress = lock(&PROGRESS);
                progress.done += 1;
                if progress.done >= progress.queued {
                    CAUGHT_UP.notify_all();
                }
            }
        });
    match spawned {
        Ok(_detached) => {
            *lock(&PROGRESS) = Progress {
                pid,
                queued: 0,
                done: 0,
            };
            Some(Writer { pid, queue })
        }
        Err(error) => {
            tracing::debug!("kiln cache: no store thread ({error}), storing on the caller");
            None
        }
    }
}

/// Puts the calling (store) thread in the idle scheduling class: on a busy machine a store
/// woken by its hand-off would otherwise preempt the compiling thread that queued it, which then
/// waits out the store it meant to skip (0.2 ms measured on two cores). An idle-class thread
/// still runs whenever a core is free, and the callers that wait for it (`flush`, another
/// process on the key's lock) leave theirs free while they wait.
fn yield_to_callers() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid `sched_param`.
        let failed = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0;
        if failed {
            tracing::debug!("kiln cache: the store thread keeps the normal scheduling class");
        }
    }
}

/// Waits until every store this process queued (see [`Cache::put_later`]) is done. In a child
/// made by `fork`, the parent's queued stores are the parent's to wait for.
pub fn flush_pending_stores() {
    let mut progress = lock(&PROGRESS);
    if progress.pid != std::process::id() {
        return;
    }
    let target = progress.queued;
    while progress.done < target {
        progress = CAUGHT_UP.wait(progress).unwrap_or_else(|e| e.into_inner());
    }
}

extern "C" fn flush_at_exit() {
    flush_pending_stores();
}

fn register_exit_handler() {
    // SAFETY: `atexit` takes a plain function pointer; `flush_at_exit` waits for the store
    // thread, which `exit` has not stopped yet when it runs its handlers. A failed
    // registration (the handler table is full) only costs entries of a process that exits
    // without dropping its caches.
    let failed = unsafe { libc::atexit(flush_at_exit) } != 0;
    if failed {
        tracing::debug!("kiln cache: atexit registration failed");
    }
}
