//! The guard evaluator on guard sets decoded from arbitrary bytes (as stored in cache
//! entries), with symbol values taken from the remaining bytes. Evaluation, the first-failure
//! explanation and printing must never panic: overflow and division by zero are errors.
#![no_main]

use kiln_shape::{Bindings, GuardSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((guards, rest)) = postcard::take_from_bytes::<GuardSet>(data) else {
        return;
    };
    let mut values = Bindings::new();
    let mut words = rest.chunks_exact(8);
    for symbol in guards.symbols() {
        let value = match words.next() {
            Some(word) => i64::from_le_bytes(word.try_into().unwrap_or([0; 8])),
            None => 1,
        };
        values.insert(&symbol, value);
    }
    let verdict = guards.eval(&values);
    let failure = guards.first_failure(&values);
    if verdict == Ok(true) {
        assert!(failure.is_none(), "a holding set has no failing guard");
    } else {
        assert!(failure.is_some(), "a set that does not hold names a failing guard");
    }
    let _ = guards.to_string();
    if let Some(failure) = failure {
        let _ = failure.to_string();
    }
    // An empty binding never panics either (unbound symbols are errors).
    let _ = guards.eval(&Bindings::new());
});
