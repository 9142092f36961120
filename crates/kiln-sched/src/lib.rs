//! kiln-sched
