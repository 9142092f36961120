//! Buffers that stay with their thread between convolution calls, so that a call neither
//! allocates nor zeroes them again (the Winograd scratch, the im2col columns).
use std::any::Any;
use std::cell::RefCell;
use std::thread::LocalKey;

/// A thread's kept buffer, of whichever type its last user kept there.
pub(super) type Slot = RefCell<Option<Box<dyn Any>>>;

/// Runs `f` on this thread's `S` from `slot` (a new one when none is kept or it has another
/// type), and keeps it afterwards when `bytes` of it is at most `limit`. A call nested inside
/// `f` on the same thread finds the slot empty and works on a buffer of its own.
pub(super) fn with_kept<S: Default + 'static, R>(
    slot: &'static LocalKey<Slot>,
    (limit, bytes): (usize, fn(&S) -> usize),
    f: impl FnOnce(&mut S) -> R,
) -> R {
    let kept = slot.with(|c| c.borrow_mut().take());
    let mut s = kept
        .and_then(|b| b.downcast::<S>().ok())
        .map_or_else(S::default, |b| *b);
    let r = f(&mut s);
    if bytes(&s) <= limit {
        slot.with(|c| *c.borrow_mut() = Some(Box::new(s)));
    }
    r
}
