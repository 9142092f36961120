//! The raw buffer pointers of a library step as slices. Buffers are byte allocations, so a
//! pointer may be unaligned for the element type: such a buffer is copied.
use std::borrow::Cow;

use half::{bf16, f16};

/// The first `len` elements of the buffer at `ptr`, borrowed when aligned, else copied.
///
/// # Safety
/// `ptr` points at `len` initialised elements of `T` that nothing writes while the result
/// lives.
pub(in crate::library) unsafe fn read<'a, T: Copy>(ptr: *const u8, len: usize) -> Cow<'a, [T]> {
    if len == 0 {
        return Cow::Owned(Vec::new());
    }
    let p = ptr as *const T;
    if p.is_aligned() {
        // SAFETY: aligned, and `len` elements are readable (the caller's contract).
        Cow::Borrowed(unsafe { std::slice::from_raw_parts(p, len) })
    } else {
        // SAFETY: as above, read element by element without the alignment.
        Cow::Owned(
            (0..len)
                .map(|i| unsafe { p.add(i).read_unaligned() })
                .collect(),
        )
    }
}

/// The buffer at `ptr` as a mutable slice of `len` elements, when it is aligned for `T`.
///
/// # Safety
/// `ptr` points at room for `len` elements of `T` that nothing else reads or writes while
/// the result lives.
pub(in crate::library) unsafe fn output<'a, T>(ptr: *mut u8, len: usize) -> Option<&'a mut [T]> {
    let p = ptr as *mut T;
    // SAFETY: aligned, non-null, and `len` elements are writable (the caller's contract);
    // every element is written by the kernels before any is read.
    (len > 0 && p.is_aligned()).then(|| unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Copies `data` to the buffer at `ptr`.
///
/// # Safety
/// `ptr` points at room for `data.len()` elements of `T` that nothing else reads or writes
/// meanwhile.
pub(in crate::library) unsafe fn write<T: Copy>(ptr: *mut u8, data: &[T]) {
    // SAFETY: the caller's contract; a byte copy needs no alignment, and `data` is a separate
    // allocation, so the ranges do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr() as *const u8, ptr, std::mem::size_of_val(data))
    };
}

/// A 16-bit float computed in f32.
pub(in crate::library) trait Half: Copy {
    fn widen(self) -> f32;
    fn narrow(v: f32) -> Self;
}

impl Half for f16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn narrow(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl Half for bf16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn narrow(v: f32) -> Self {
        bf16::from_f32(v)
    }
}
