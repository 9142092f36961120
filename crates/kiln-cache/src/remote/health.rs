//! Failure policy of the remote level: a failed call is counted, the first is logged as a
//! warning, and after N in a row the level is switched off for the rest of the process (a
//! dead or slow server must not add a timeout to every compile).
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

pub(crate) struct Health {
    max_consecutive_errors: u32,
    consecutive_errors: AtomicU32,
    disabled: AtomicBool,
    warned: AtomicBool,
}

impl Health {
    pub(crate) fn new(max_consecutive_errors: u32) -> Health {
        Health {
            max_consecutive_errors: max_consecutive_errors.max(1),
            consecutive_errors: AtomicU32::new(0),
            disabled: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    pub(crate) fn succeeded(&self) {
        self.consecutive_errors.store(0, Ordering::Relaxed);
    }

    /// Records a failure; returns true when this failure switched the level off.
    pub(crate) fn failed(&self, location: &str, error: &dyn std::fmt::Display) -> bool {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "kiln remote cache {location} failed, compiling on without it: {error} \
                 (further remote errors are only counted)"
            );
        }
        let in_a_row = self
            .consecutive_errors
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if in_a_row >= self.max_consecutive_errors && !self.disabled.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "kiln remote cache {location} disabled for the rest of this process after \
                 {in_a_row} consecutive errors; last: {error}"
            );
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disables_after_consecutive_errors_only() {
        let health = Health::new(3);
        assert!(!health.failed("r", &"e1"));
        assert!(!health.failed("r", &"e2"));
        health.succeeded();
        assert!(!health.failed("r", &"e3"));
        assert!(!health.failed("r", &"e4"));
        assert!(!health.is_disabled());
        assert!(health.failed("r", &"e5"));
        assert!(health.is_disabled());
        assert!(!health.failed("r", &"e6"), "switched off once");
    }
}
