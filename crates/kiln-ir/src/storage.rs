//! Tensor bytes: 64-byte aligned, allocated fallibly, and optionally recycled through a
//! [`BufferPool`] so that a function returning fresh outputs on every call does not pay for
//! page faults and zeroing each time.
//!
//! Every byte a [`Storage`] exposes is initialised memory: heap blocks come from
//! `alloc_zeroed`, large blocks are anonymous mappings (zero-filled by the kernel, on first
//! touch), and a recycled block holds what its previous owner left there. What a fresh
//! allocation avoids is only the *extra* work: no memset over pages the kernel is about to
//! overwrite, no page faults when a block comes back from the pool.
#![allow(unsafe_code)] // the crate denies unsafe; this module owns raw allocations
use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, Weak};

/// Alignment of every block kiln allocates (a cache line, and an AVX-512 vector).
pub const ALIGN: usize = 64;

/// Blocks from this size on are mapped directly (page-aligned, zeroed by the OS, with
/// transparent huge pages requested) instead of taken from the heap.
const MAP_MIN: usize = 1 << 20;

/// Huge-page size on x86-64 and aarch64 (4K base pages): mapped blocks are rounded up to it
/// and aligned to it, so the whole block can be backed by huge pages.
const HUGE_PAGE: usize = 2 << 20;

/// Why a block could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot allocate {bytes} bytes: {reason}")]
pub struct StorageError {
    pub bytes: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Adopted from a `Vec<u8>` (alignment 1); `cap` is the Vec's capacity.
    Vec,
    /// `alloc_zeroed` with [`ALIGN`]; `cap == 0` is the dangling empty block.
    Heap,
    /// An anonymous mapping of `cap` bytes.
    Mapped,
    /// Memory kiln does not own (a NumPy array or torch tensor borrowed through DLPack): the
    /// storage's `owner` keeps it alive and is dropped instead of freeing the block.
    External,
}

/// A block of memory and how to free it.
#[derive(Debug)]
struct Block {
    ptr: NonNull<u8>,
    cap: usize,
    kind: Kind,
}

// SAFETY: a block is owned by exactly one `Storage` or pool list, like a `Vec<u8>`'s buffer;
// shared access only reads through `&Storage`.
unsafe impl Send for Block {}
unsafe impl Sync for Block {}

impl Block {
    fn alloc(bytes: usize) -> Result<Block, StorageError> {
        let err = |reason: &str| StorageError {
            bytes,
            reason: reason.to_string(),
        };
        if bytes == 0 {
            let ptr = NonNull::new(std::ptr::without_provenance_mut(ALIGN)).expect("nonzero");
            return Ok(Block {
                ptr,
                cap: 0,
                kind: Kind::Heap,
            });
        }
        if let Some(total) = machine_memory().filter(|&t| bytes > t) {
            // Refused up front: with overcommit the mapping could succeed and the process
            // would be killed when the kernel touches the pages.
            return Err(err(&format!(
                "more than the machine's memory ({total} bytes of RAM and swap)"
            )));
        }
        if bytes >= MAP_MIN && cfg!(unix) {
            return map(bytes).map_err(|e| err(&e));
        }
        let layout = Layout::from_size_align(bytes, ALIGN).map_err(|_| err("size too large"))?;
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| err("out of memory"))?;
        Ok(Block {
            ptr,
            cap: bytes,
            kind: Kind::Heap,
        })
    }

    fn free(self) {
        match self.kind {
            Kind::Vec => {
                // SAFETY: the block is the buffer of a `Vec<u8>` of this capacity (see
                // `From<Vec<u8>>`); a length of 0 frees without reading it.
                drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), 0, self.cap) });
            }
            Kind::Heap if self.cap == 0 => {}
            Kind::Heap => {
                let layout = Layout::from_size_align(self.cap, ALIGN).expect("allocated with it");
                // SAFETY: allocated by `alloc_zeroed` with this layout.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
            }
            Kind::Mapped => unmap(self.ptr.as_ptr(), self.cap),
            // Freed by its owner (see `Storage::from_external`).
            Kind::External => {}
        }
    }
}

/// RAM plus swap, read once: no single block larger than this can ever be backed.
fn machine_memory() -> Option<usize> {
    static TOTAL: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `sysinfo` fills the struct it is given and reads nothing else.
            let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
            if unsafe { libc::sysinfo(&mut info) } != 0 {
                return None;
            }
            let unit = u64::from(info.mem_unit.max(1));
            let total = (info.totalram as u64)
                .saturating_add(info.totalswap as u64)
                .saturating_mul(unit);
            Some(usize::try_from(total).unwrap_or(usize::MAX))
        }
        #[cfg(not(target_os = "linux"))]
        None
    })
}

/// Maps `bytes` (rounded up to whole huge pages) aligned to a huge page, and asks for
/// transparent huge pages: a 64 MiB output then takes 32 page faults instead of 16,384.
#[cfg(unix)]
fn map(bytes: usize) -> Result<Block, String> {
    let cap = bytes
        .checked_next_multiple_of(HUGE_PAGE)
        .ok_or("size too large")?;
    let span = cap.checked_add(HUGE_PAGE).ok_or("size too large")?;
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // Trim the mapping to a huge-page-aligned `cap` bytes inside it.
    let head = (base as usize).next_multiple_of(HUGE_PAGE) - base as usize;
    let start = base.cast::<u8>().wrapping_add(head);
    if head > 0 {
        unmap(base.cast(), head);
    }
    if span - head - cap > 0 {
        unmap(start.wrapping_add(cap), span - head - cap);
    }
    // SAFETY: the range is the mapping just made; the advice only changes how it is backed
    // (huge pages are a hint: where refused, the mapping keeps 4K pages).
    unsafe { libc::madvise(start.cast(), cap, libc::MADV_HUGEPAGE) };
    let ptr = NonNull::new(start).ok_or("mmap returned null")?;
    Ok(Block {
        ptr,
        cap,
        kind: Kind::Mapped,
    })
}

#[cfg(not(unix))]
fn map(_bytes: usize) -> Result<Block, String> {
    unreachable!("only called on unix")
}

fn unmap(ptr: *mut u8, len: usize) {
    #[cfg(unix)]
    // SAFETY: `ptr..ptr+len` is (part of) a mapping this module made and nothing refers to.
    unsafe {
        libc::munmap(ptr.cast(), len);
    }
    #[cfg(not(unix))]
    let _ = (ptr, len);
}

/// The bytes of a tensor: dereferences to `[u8]`.
pub struct Storage {
    block: Option<Block>,
    len: usize,
    /// Where the block goes back to on drop, if its pool still exists.
    home: Option<Weak<PoolShared>>,
    /// What keeps an external block alive (see [`Storage::from_external`]).
    _owner: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Storage {
    /// `bytes` zeroed bytes, 64-byte aligned, or an error if the memory is not available.
    pub fn try_zeroed(bytes: usize) -> Result<Storage, StorageError> {
        Ok(Storage {
            block: Some(Block::alloc(bytes)?),
            len: bytes,
            home: None,
            _owner: None,
        })
    }

    /// Wraps `len` bytes at `ptr` that kiln does not own, without copying: `owner` keeps
    /// them alive (e.g. a reference to the Python object that exported them) and is dropped
    /// with the storage. Cloning copies the bytes into kiln's own memory.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` initialised bytes, and for writes when the
    /// storage is used mutably, for as long as `owner` lives; nothing else may write them
    /// while the storage is borrowed mutably.
    pub unsafe fn from_external(
        ptr: NonNull<u8>,
        len: usize,
        owner: Box<dyn std::any::Any + Send + Sync>,
    ) -> Storage {
        Storage {
            block: Some(Block {
                ptr,
                cap: len,
                kind: Kind::External,
            }),
            len,
            home: None,
            _owner: Some(owner),
        }
    }

    /// Shortens the bytes to `len` (no effect if already shorter); the block is kept.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Copies the bytes into a `Vec<u8>` (without copying if they came from one).
    pub fn into_vec(mut self) -> Vec<u8> {
        match self.block.take() {
            Some(b) if b.kind == Kind::Vec => {
                // SAFETY: the block is that Vec's buffer, with `len` initialised bytes.
                unsafe { Vec::from_raw_parts(b.ptr.as_ptr(), self.len, b.cap) }
            }
            Some(b) => {
                // SAFETY: `len` initialised bytes at `ptr` (see the module docs).
                let v = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), self.len) }.to_vec();
                self.block = Some(b);
                v
            }
            None => Vec::new(),
        }
    }

    fn raw(&self) -> (*mut u8, usize) {
        match &self.block {
            Some(b) => (b.ptr.as_ptr(), self.len),
            None => (std::ptr::without_provenance_mut(ALIGN), 0),
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let Some(block) = self.block.take() else {
            return;
        };
        if block.kind == Kind::External {
            // The owner drops with `self` and releases the memory.
            return;
        }
        match self.home.as_ref().and_then(Weak::upgrade) {
            Some(pool) => pool.give_back(block),
            None => block.free(),
        }
    }
}

impl std::ops::Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let (ptr, len) = self.raw();
        // SAFETY: `len` initialised bytes owned by `self` (see the module docs).
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl std::ops::DerefMut for Storage {
    fn deref_mut(&mut self) -> &mut [u8] {
        let (ptr, len) = self.raw();
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }
}

impl From<Vec<u8>> for Storage {
    /// Adopts the Vec's buffer without copying (its alignment stays what the Vec had).
    fn from(v: Vec<u8>) -> Storage {
        let mut v = std::mem::ManuallyDrop::new(v);
        let block = Block {
            ptr: NonNull::new(v.as_mut_ptr()).expect("a Vec's pointer is never null"),
            cap: v.capacity(),
            kind: Kind::Vec,
        };
        Storage {
            block: Some(block),
            len: v.len(),
            home: None,
            _owner: None,
        }
    }
}

impl From<&[u8]> for Storage {
    fn from(v: &[u8]) -> Storage {
        Storage::from(v.to_vec())
    }
}

impl Clone for Storage {
    fn clone(&self) -> Storage {
        Storage::from(self.to_vec())
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Storage) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A pool of blocks freed by the storages it handed out, for the next allocation of a
/// similar size: a compiled program keeps one for its outputs and temporaries, so a loop of
/// `run()` calls reuses the same warm pages (no page faults, no zeroing). It keeps at most
/// `max_bytes` of free blocks; dropping the pool frees them.
pub struct BufferPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    free: Mutex<Vec<Block>>,
    max_bytes: usize,
}

/// At most this many free blocks are kept (the search is linear).
const POOL_MAX_BLOCKS: usize = 16;

impl BufferPool {
    pub fn new(max_bytes: usize) -> BufferPool {
        BufferPool {
            shared: Arc::new(PoolShared {
                free: Mutex::new(Vec::new()),
                max_bytes,
            }),
        }
    }

    /// `bytes` bytes of unspecified content (zeros, or what a previous user of the block
    /// wrote): for buffers that are completely written before they are read.
    pub fn alloc(&self, bytes: usize) -> Result<Storage, StorageError> {
        let block = match self.shared.take(bytes) {
            Some(b) => b,
            None => Block::alloc(bytes)?,
        };
        Ok(Storage {
            block: Some(block),
            len: bytes,
            home: Some(Arc::downgrade(&self.shared)),
            _owner: None,
        })
    }

    /// Bytes held in free blocks.
    pub fn free_bytes(&self) -> usize {
        self.shared.lock().iter().map(|b| b.cap).sum()
    }
}

impl PoolShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Block>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The smallest free block that holds `bytes` without wasting more than half of it.
    fn take(&self, bytes: usize) -> Option<Block> {
        if bytes == 0 {
            return None;
        }
        let mut free = self.lock();
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.cap >= bytes && b.cap / 2 <= bytes)
            .min_by_key(|(_, b)| b.cap)
            .map(|(i, _)| i)?;
        Some(free.swap_remove(best))
    }

    fn give_back(&self, block: Block) {
        let mut free = self.lock();
        let held: usize = free.iter().map(|b| b.cap).sum();
        if block.cap == 0
            || free.len() >= POOL_MAX_BLOCKS
            || held.saturating_add(block.cap) > self.max_bytes
        {
            drop(free);
            block.free();
        } else {
            free.push(block);
        }
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        for block in self
            .free
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            block.free();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_zeroed() {
        for bytes in [1, 100, 4096, MAP_MIN - 1, MAP_MIN, 3 * HUGE_PAGE + 5] {
            let s = Storage::try_zeroed(bytes).unwrap();
            assert_eq!(s.len(), bytes);
            assert_eq!(s.as_ptr() as usize % ALIGN, 0, "{bytes} bytes");
            assert!(s.iter().all(|&b| b == 0), "{bytes} bytes");
        }
    }

    #[test]
    fn an_impossible_size_is_an_error() {
        let err = Storage::try_zeroed(usize::MAX / 2).unwrap_err();
        assert_eq!(err.bytes, usize::MAX / 2);
        let err = BufferPool::new(1 << 30)
            .alloc(4_000_000_000_000)
            .unwrap_err();
        assert_eq!(err.bytes, 4_000_000_000_000);
    }

    #[test]
    fn the_pool_hands_a_freed_block_back() {
        let pool = BufferPool::new(64 << 20);
        let mut a = pool.alloc(3 << 20).unwrap();
        a[0] = 7;
        let ptr = a.as_ptr();
        drop(a);
        assert!(pool.free_bytes() >= 3 << 20);
        let b = pool.alloc(3 << 20).unwrap();
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(pool.free_bytes(), 0);
        // A block more than twice the request is not reused for it.
        drop(b);
        assert_ne!(pool.alloc(1 << 10).unwrap().as_ptr(), ptr);
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        let pool = BufferPool::new(4 << 20);
        let (a, b) = (pool.alloc(4 << 20).unwrap(), pool.alloc(4 << 20).unwrap());
        drop(a);
        drop(b);
        assert_eq!(pool.free_bytes(), 4 << 20);
        // A storage outliving its pool frees its block itself.
        let c = pool.alloc(4 << 20).unwrap();
        drop(pool);
        drop(c);
    }

    #[test]
    fn vec_round_trip_keeps_the_bytes() {
        let s = Storage::from(vec![1u8, 2, 3]);
        assert_eq!(&s[..], &[1, 2, 3]);
        assert_eq!(s.clone(), s);
        assert_eq!(s.into_vec(), vec![1, 2, 3]);
        assert_eq!(Storage::try_zeroed(5).unwrap().into_vec(), vec![0; 5]);
    }

    #[test]
    fn external_memory_is_borrowed_until_the_owner_drops() {
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Owner(Arc<AtomicBool>, #[allow(dead_code)] Vec<u8>);
        impl Drop for Owner {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let mut bytes = vec![1u8, 2, 3, 4];
        let ptr = NonNull::new(bytes.as_mut_ptr()).unwrap();
        let owner = Owner(dropped.clone(), bytes);
        // SAFETY: the Vec's buffer lives in `owner`, which the storage keeps.
        let mut s = unsafe { Storage::from_external(ptr, 4, Box::new(owner)) };
        assert_eq!(s.as_ptr(), ptr.as_ptr() as *const u8);
        s[0] = 9;
        let copy = s.clone();
        assert_ne!(copy.as_ptr(), s.as_ptr());
        assert_eq!(&copy[..], &[9, 2, 3, 4]);
        assert!(!dropped.load(Ordering::SeqCst));
        drop(s);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
