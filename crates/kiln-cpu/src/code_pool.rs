//! Executable memory for kernels, recycled within the process.
//!
//! Cranelift's default provider maps fresh pages for every module (one mapping per function
//! that does not fit the last one) and unmaps them when the module is freed. A cache hit
//! installs a few KiB of machine code into a fresh module; measured on the hit path, the mmap
//! and the page faults of first touching those pages cost about as much as decoding the whole
//! entry. This provider puts a module's code into one region sized for it up front (a hit knows
//! its code size), maps new regions populated (`MAP_POPULATE`: one call, no faults), and keeps
//! freed regions, zeroed and resident, in a process-wide pool for the next module.
//!
//! W^X holds as with Cranelift's provider: a region is read-write while code is copied in,
//! read+execute from `finalize` on, and read-write again only in `free_memory`, which runs when
//! the module's program is dropped and no kernel pointer into it remains. Freed regions are
//! zeroed, so stale code never becomes executable again in another module.
//!
//! Only x86-64 Linux uses it: x86 keeps instruction fetch coherent with stores, a reused region
//! is rewritten only after every kernel in it is gone, and the `mprotect` to read+execute
//! shoots down the TLB entries of every core running the process (as Cranelift's own
//! provider, it needs no instruction-cache maintenance there). Elsewhere modules keep
//! Cranelift's provider.
use std::io;
use std::sync::Mutex;

use cranelift_jit::{BranchProtection, JITMemoryKind, JITMemoryProvider, SystemMemoryProvider};
use cranelift_module::{ModuleError, ModuleResult};

/// The most freed code memory the process keeps for later modules.
const POOL_MAX_BYTES: usize = 16 << 20;
/// The smallest region mapped; a module whose size is unknown (a compile) grows by this much.
const MIN_REGION_BYTES: usize = 16 << 10;
/// A pooled region serves a module needing at least 1/this of it.
const MAX_OVERSIZE: usize = 4;

/// A page-aligned anonymous mapping.
struct Region {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a region is plain memory owned by one provider or by the pool at a time.
unsafe impl Send for Region {}

/// Freed regions, read-write and zeroed.
static POOL: Mutex<Vec<Region>> = Mutex::new(Vec::new());

/// A [`JITMemoryProvider`] for one module: code in pooled regions, data (kiln's kernels have
/// none; Cranelift may still ask) from Cranelift's own provider.
pub(crate) struct PooledCode {
    /// Bytes the first region should hold (0: unknown).
    size_hint: usize,
    regions: Vec<Region>,
    /// Bytes used in the last region, when it is still open for allocations.
    open: Option<usize>,
    /// Regions before this index are read+execute.
    protected: usize,
    /// Whether `finalize` ever ran: only then can code pointers into the regions exist.
    finalized: bool,
    data: SystemMemoryProvider,
}

impl Drop for PooledCode {
    /// A module dropped without `free_memory` keeps its code (kernel pointers may outlive it,
    /// as with Cranelift's provider), unless it was never finalized: a compile or load that
    /// failed before its code could run gives its regions back instead of leaking them.
    fn drop(&mut self) {
        if !self.finalized {
            for region in self.regions.drain(..) {
                give_back(region);
            }
        }
    }
}

impl PooledCode {
    /// A provider whose first region holds `size_hint` bytes of code (plus alignment).
    pub(crate) fn with_size_hint(size_hint: usize) -> PooledCode {
        PooledCode {
            size_hint,
            regions: Vec::new(),
            open: None,
            protected: 0,
            finalized: false,
            data: SystemMemoryProvider::new(),
        }
    }

    fn allocate_code(&mut self, size: usize, align: u64) -> io::Result<*mut u8> {
        let page = page_size();
        let align = usize::try_from(align)
            .ok()
            .filter(|a| a.is_power_of_two() && *a <= page)
            .ok_or_else(|| invalid(format!("code alignment {align}")))?;
        if let (Some(used), Some(last)) = (self.open, self.regions.last()) {
            let start = used.checked_next_multiple_of(align);
            if let Some(start) =
                start.filter(|s| s.checked_add(size).is_some_and(|e| e <= last.len))
            {
                self.open = Some(start + size);
                // SAFETY: `start + size <= last.len`: inside the region.
                return Ok(unsafe { last.ptr.add(start) });
            }
        }
        let wanted = size
            .max(std::mem::take(&mut self.size_hint))
            .max(MIN_REGION_BYTES);
        let len = wanted
            .checked_next_multiple_of(page)
            .ok_or_else(|| invalid(format!("code size {size}")))?;
        let region = match take_pooled(len) {
            Some(region) => region,
            None => map_region(len)?,
        };
        let ptr = region.ptr;
        self.regions.push(region);
        self.open = Some(size);
        Ok(ptr)
    }
}

impl JITMemoryProvider for PooledCode {
    fn allocate(&mut self, size: usize, align: u64, kind: JITMemoryKind) -> io::Result<*mut u8> {
        match kind {
            JITMemoryKind::Executable => self.allocate_code(size, align),
            other => self.data.allocate(size, align, other),
        }
    }

    fn finalize(&mut self, branch_protection: BranchProtection) -> ModuleResult<()> {
        self.data.finalize(branch_protection)?;
        self.finalized = true;
        for region in &self.regions[self.protected..] {
            protect(region, libc::PROT_READ | libc::PROT_EXEC)
                .map_err(|err| ModuleError::Allocation { err })?;
        }
        self.protected = self.regions.len();
        self.open = None;
        Ok(())
    }

    unsafe fn free_memory(&mut self) {
        // SAFETY: the caller guarantees no code or data of this module is used any more.
        unsafe { self.data.free_memory() };
        for region in self.regions.drain(..) {
            give_back(region);
        }
        self.protected = 0;
        self.open = None;
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("JIT memory: {what}"))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(4096)
}

/// A pooled region of at least `len` bytes. `try_lock`: a pool held elsewhere (or by a thread
/// that did not survive a fork) costs a fresh mapping, never a wait.
fn take_pooled(len: usize) -> Option<Region> {
    best_fit(&mut *POOL.try_lock().ok()?, len)
}

/// Removes the smallest region of `pool` holding `len` bytes, if it is at most
/// [`MAX_OVERSIZE`] times that: a small module never protects and zeroes a large program's
/// region.
fn best_fit(pool: &mut Vec<Region>, len: usize) -> Option<Region> {
    let best = (0..pool.len())
        .filter(|&i| pool[i].len >= len && pool[i].len / MAX_OVERSIZE <= len)
        .min_by_key(|&i| pool[i].len)?;
    Some(pool.swap_remove(best))
}

fn map_region(len: usize) -> io::Result<Region> {
    // SAFETY: an anonymous private mapping at an address the kernel chooses.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Region {
        ptr: ptr.cast(),
        len,
    })
}

fn protect(region: &Region, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: the region is a whole mapping of this process.
    match unsafe { libc::mprotect(region.ptr.cast(), region.len, prot) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Pools a freed region, or unmaps it when the pool is full or busy.
fn give_back(region: Region) {
    let rest = match POOL.try_lock() {
        Ok(mut pool) => recycle(region, &mut pool),
        Err(_) => Some(region),
    };
    if let Some(region) = rest {
        // SAFETY: the region is a whole mapping that nothing references.
        unsafe { libc::munmap(region.ptr.cast(), region.len) };
    }
}

/// Makes `region` writable, zeroes it and adds it to `pool`; hands it back when it cannot.
fn recycle(region: Region, pool: &mut Vec<Region>) -> Option<Region> {
    let pooled: usize = pool.iter().map(|r| r.len).sum();
    if pooled + region.len > POOL_MAX_BYTES
        || protect(&region, libc::PROT_READ | libc::PROT_WRITE).is_err()
    {
        return Some(region);
    }
    // SAFETY: the region is writable and no longer referenced by any module.
    unsafe { std::ptr::write_bytes(region.ptr, 0, region.len) };
    pool.push(region);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_bump_allocates_its_code_in_one_region() {
        let mut code = PooledCode::with_size_hint(100);
        let a = code.allocate(40, 16, JITMemoryKind::Executable).unwrap();
        let b = code.allocate(40, 16, JITMemoryKind::Executable).unwrap();
        assert_eq!(b as usize - a as usize, 48, "bump allocation, aligned");
        assert_eq!(code.regions.len(), 1);
        code.finalize(BranchProtection::None).unwrap();
        let c = code.allocate(8, 16, JITMemoryKind::Executable).unwrap();
        assert_eq!(code.regions.len(), 2, "no allocation into finalized code");
        assert_ne!(c, a);
        // SAFETY: nothing uses the code.
        unsafe { code.free_memory() };
    }

    #[test]
    fn freed_code_is_pooled_writable_and_zeroed() {
        let page = page_size();
        let region = map_region(2 * page).unwrap();
        // SAFETY: the fresh region is writable.
        unsafe { std::ptr::write_bytes(region.ptr, 0xCC, 2 * page) };
        protect(&region, libc::PROT_READ | libc::PROT_EXEC).unwrap();
        let mut pool = Vec::new();
        assert!(recycle(region, &mut pool).is_none(), "pooled");
        let back = best_fit(&mut pool, page).expect("the pooled region fits");
        // SAFETY: a pooled region is readable and writable.
        let bytes = unsafe { std::slice::from_raw_parts_mut(back.ptr, back.len) };
        assert!(bytes.iter().all(|&b| b == 0), "zeroed");
        bytes[0] = 1;
        assert!(best_fit(&mut pool, page).is_none());
        pool.push(back);
        assert!(
            best_fit(&mut pool, page / 4).is_none(),
            "a region over 4x the need stays pooled"
        );
        let back = best_fit(&mut pool, page).expect("fits again");
        let full = Region {
            ptr: back.ptr,
            len: POOL_MAX_BYTES + page,
        };
        let refused = recycle(full, &mut pool).expect("over the cap");
        // SAFETY: the region was mapped above with this length.
        unsafe { libc::munmap(refused.ptr.cast(), back.len) };
    }

    #[test]
    fn refuses_alignment_beyond_a_page() {
        let mut code = PooledCode::with_size_hint(0);
        let err = code
            .allocate(8, 1 << 20, JITMemoryKind::Executable)
            .unwrap_err();
        assert!(err.to_string().contains("alignment"), "{err}");
    }
}
