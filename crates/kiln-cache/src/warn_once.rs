//! Warnings that would repeat on every compile (a broken cache directory) are logged once per
//! process and kind; the counters keep the full tally.
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy)]
pub(crate) enum WarnKind {
    Write,
    Read,
    Untrusted,
    Corrupt,
    Stale,
    Signature,
}

static WARNED: [AtomicBool; 6] = [const { AtomicBool::new(false) }; 6];

/// Logs `message()` as a warning the first time `kind` happens in this process.
pub(crate) fn warn_once(kind: WarnKind, message: impl FnOnce() -> String) {
    if !WARNED[kind as usize].swap(true, Ordering::Relaxed) {
        tracing::warn!("{} (further such warnings are not shown)", message());
    }
}

/// At most this many distinct bypass reasons are remembered; later new ones are still logged
/// at debug level only.
const MAX_REASONS: usize = 256;
static BYPASS_REASONS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Logs each distinct bypass reason once per process.
pub(crate) fn note_bypass_reason(reason: &str) {
    let Ok(mut seen) = BYPASS_REASONS.lock() else {
        return;
    };
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.contains(reason) {
        return;
    }
    if seen.len() < MAX_REASONS {
        seen.insert(reason.to_string());
        tracing::info!("kiln cache bypassed: {reason}");
    } else {
        tracing::debug!("kiln cache bypassed: {reason}");
    }
}
