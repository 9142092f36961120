//! What a compile did, and counters of outcomes per compiler and per process.
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_cache::CacheKey;

use crate::key::KeyComponent;

/// How a call found its compiled code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An in-memory specialisation of this function already covered the shapes (no hashing).
    Memory,
    /// Loaded from the disk cache: no scheduling, no codegen.
    Hit,
    /// The key was not in the cache: compiled and stored.
    Miss,
    /// The key was in the cache but no entry's guards held: compiled and stored as a new entry.
    GuardMiss,
    /// The cache was not used (disabled, unusable, or the entry could not be stored).
    Bypass(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Memory => "memory",
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::GuardMiss => "guard_miss",
            Outcome::Bypass(_) => "bypass",
        }
    }
}

/// The report of one specialisation: how it was obtained and what it cost.
#[derive(Debug, Clone)]
pub struct CompileReport {
    pub outcome: Outcome,
    /// `None` when the cache was not consulted.
    pub key: Option<CacheKey>,
    pub components: Vec<KeyComponent>,
    /// Wall time of the whole specialisation (binding, key, lookup, compile or load).
    pub compile_ms: f64,
    /// The guards under which the code is valid, as text.
    pub guards: String,
    /// Where `compile_ms` went.
    pub phases: Phases,
}

/// Microseconds spent in each phase of one specialisation (zero for phases it skipped).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Phases {
    /// Binding the input dims to symbols and choosing the dynamic policy.
    pub bind_us: f64,
    /// The ShapeEnv, specialised input shapes, target id and the key's hashes.
    pub key_us: f64,
    /// Taking the key's file lock (only when the guard index serves no hit: see
    /// `Cache::get_indexed`).
    pub lock_us: f64,
    /// The cache's own work: listing the key, reading its guard index, reading the entry,
    /// checking its content hash (and signature) and decoding it.
    pub read_us: f64,
    /// Evaluating guard sets on the hints.
    pub guards_us: f64,
    /// Loading the artifact: decoding it and installing its machine code (or the cubin).
    pub load_us: f64,
    /// Scheduling and code generation (misses only).
    pub codegen_us: f64,
    /// Encoding and storing the entry (misses only).
    pub store_us: f64,
    /// Recording the guards in the environment, counters and logging.
    pub finish_us: f64,
}

/// Counters of outcomes.
#[derive(Debug, Default)]
pub struct Counters {
    pub memory: AtomicU64,
    pub hit: AtomicU64,
    pub miss: AtomicU64,
    pub guard_miss: AtomicU64,
    pub bypass: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CounterSnapshot {
    pub memory: u64,
    pub hit: u64,
    pub miss: u64,
    pub guard_miss: u64,
    pub bypass: u64,
}

impl Counters {
    pub fn count(&self, o: &Outcome) {
        let c = match o {
            Outcome::Memory => &self.memory,
            Outcome::Hit => &self.hit,
            Outcome::Miss => &self.miss,
            Outcome::GuardMiss => &self.guard_miss,
            Outcome::Bypass(_) => &self.bypass,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            memory: g(&self.memory),
            hit: g(&self.hit),
            miss: g(&self.miss),
            guard_miss: g(&self.guard_miss),
            bypass: g(&self.bypass),
        }
    }
}

/// Process-wide counters, across every compiler.
pub static PROCESS: Counters = Counters {
    memory: AtomicU64::new(0),
    hit: AtomicU64::new(0),
    miss: AtomicU64::new(0),
    guard_miss: AtomicU64::new(0),
    bypass: AtomicU64::new(0),
};

/// The process-wide counters.
pub fn process_counters() -> CounterSnapshot {
    PROCESS.snapshot()
}
