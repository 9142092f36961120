//! Remote writes run on one background thread behind a bounded queue, so that a compile never
//! waits for Redis to store what it produced. A full queue drops the write (the entry is still
//! on the local disk); dropping the writer waits a bounded time for queued writes.
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::key::CacheKey;

pub(crate) enum WriteOp {
    Store {
        key: CacheKey,
        name: String,
        bytes: Vec<u8>,
    },
    Touch {
        key: CacheKey,
    },
}

#[derive(Default)]
struct QueueState {
    ops: VecDeque<WriteOp>,
    /// The worker is running an op taken off `ops`.
    busy: bool,
    closed: bool,
}

struct Queue {
    capacity: usize,
    state: Mutex<QueueState>,
    changed: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic in an op cannot leave the state inconsistent: take it anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) struct Writer {
    queue: Arc<Queue>,
    worker: Option<JoinHandle<()>>,
    flush_timeout: Duration,
}

impl Writer {
    /// Starts the worker thread, which runs `apply` on each op in order. `None` when the
    /// thread cannot be spawned (the caller then writes nothing remotely).
    pub(crate) fn start(
        capacity: usize,
        flush_timeout: Duration,
        apply: impl Fn(WriteOp) + Send + 'static,
    ) -> Option<Writer> {
        let queue = Arc::new(Queue {
            capacity: capacity.max(1),
            state: Mutex::new(QueueState::default()),
            changed: Condvar::new(),
        });
        let worker_queue = queue.clone();
        let worker = std::thread::Builder::new()
            .name("kiln-remote-writer".to_string())
            .spawn(move || run_worker(&worker_queue, apply))
            .map_err(|e| tracing::warn!("kiln remote cache: cannot start the writer: {e}"))
            .ok()?;
        Some(Writer {
            queue,
            worker: Some(worker),
            flush_timeout,
        })
    }

    /// Queues `op`; false when the queue is full or closed (the op is dropped).
    pub(crate) fn push(&self, op: WriteOp) -> bool {
        let mut state = self.queue.lock();
        if state.closed || state.ops.len() >= self.queue.capacity {
            return false;
        }
        state.ops.push_back(op);
        drop(state);
        self.queue.changed.notify_all();
        true
    }

    /// Waits until every queued op has run, at most `timeout`; true when all did.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.queue.lock();
        while !state.ops.is_empty() || state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.queue.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Drops queued ops that have not started (the level was switched off).
    pub(crate) fn discard_pending(&self) {
        self.queue.lock().ops.clear();
        self.queue.changed.notify_all();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let drained = self.wait_idle(self.flush_timeout);
        self.queue.lock().closed = true;
        self.queue.changed.notify_all();
        if drained {
            if let Some(worker) = self.worker.take() {
                let _ = worker.join();
            }
        } else {
            // The thread finishes its current op (bounded by the command timeout) and exits;
            // joining it here could hold up the process for a whole queue of timeouts.
            tracing::warn!(
                "kiln remote cache: queued writes not sent within {:?} are dropped",
                self.flush_timeout
            );
            self.queue.lock().ops.clear();
        }
    }
}

fn run_worker(queue: &Queue, apply: impl Fn(WriteOp)) {
    loop {
        let mut state = queue.lock();
        let op = loop {
            if let Some(op) = state.ops.pop_front() {
                break op;
            }
            if state.closed {
                return;
            }
            state = match queue.changed.wait(state) {
                Ok(state) => state,
                Err(poisoned) => poisoned.into_inner(),
            };
        };
        state.busy = true;
        drop(state);
        apply(op);
        queue.lock().busy = false;
        queue.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_ops_in_order_and_bounds_the_queue() {
        let done = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().expect("gate");
        let (worker_done, worker_gate) = (done.clone(), gate.clone());
        let writer = Writer::start(2, Duration::from_secs(5), move |_| {
            drop(worker_gate.lock());
            worker_done.fetch_add(1, Ordering::SeqCst);
        })
        .expect("writer");
        let touch = || WriteOp::Touch {
            key: CacheKey([1; 32]),
        };
        assert!(writer.push(touch()));
        // The worker takes the first op and blocks on the gate; two more fill the queue.
        while !writer.queue.lock().busy {
            std::thread::yield_now();
        }
        assert!(writer.push(touch()));
        assert!(writer.push(touch()));
        assert!(!writer.push(touch()), "a full queue drops the op");
        assert!(!writer.wait_idle(Duration::from_millis(20)));
        drop(held);
        assert!(writer.wait_idle(Duration::from_secs(5)));
        assert_eq!(done.load(Ordering::SeqCst), 3);
    }
}
