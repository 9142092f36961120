//! A cuBLAS handle bound to one program's stream, and the GEMM calls of a [`GemmPlan`].
use std::ffi::{c_int, c_void};
use std::sync::Arc;

use cudarc::driver::CudaStream;
use cudarc::driver::sys::CUdeviceptr;

use crate::cublas::load::{self, Api, Handle};
use crate::cublas::{CUBLAS_GEMM_DEFAULT, GemmPlan, GemmTypes};
use crate::error::CudaError;

/// A handle created on the program's stream; destroyed on drop.
pub(super) struct Blas {
    api: &'static Api,
    handle: Handle,
    /// The stream the handle runs on; its context is made current to destroy the handle.
    stream: Arc<CudaStream>,
}

// SAFETY: a cuBLAS handle may be used from any thread, one call at a time; the program keeps
// its `Blas` behind a mutex, so calls never overlap.
unsafe impl Send for Blas {}

/// The device addresses of kiln's A, B and C at element 0, and their element size.
#[derive(Debug, Clone, Copy)]
pub(super) struct GemmPtrs {
    pub a: CUdeviceptr,
    pub b: CUdeviceptr,
    pub c: CUdeviceptr,
    pub elem_bytes: usize,
}

fn too_large(what: &str, value: usize, limit: &str) -> CudaError {
    CudaError::TooLarge {
        what: what.to_string(),
        value: i64::try_from(value).unwrap_or(i64::MAX),
        limit: limit.to_string(),
    }
}

fn int(what: &str, v: usize) -> Result<c_int, CudaError> {
    c_int::try_from(v).map_err(|_| too_large(what, v, "cuBLAS takes it as a 32-bit int"))
}

fn long(what: &str, v: usize) -> Result<i64, CudaError> {
    i64::try_from(v).map_err(|_| too_large(what, v, "cuBLAS takes it as a 64-bit int"))
}

/// `base + elems * elem_bytes`, checked.
pub(super) fn at(
    base: CUdeviceptr,
    elems: usize,
    elem_bytes: usize,
) -> Result<CUdeviceptr, CudaError> {
    elems
        .checked_mul(elem_bytes)
        .and_then(|b| u64::try_from(b).ok())
        .and_then(|b| base.checked_add(b))
        .ok_or_else(|| too_large("a GEMM operand's address", elems, "it overflows"))
}

impl Blas {
    /// A handle whose calls run on `stream`; [`CudaError::CublasUnavailable`] without libcublas.
    pub(super) fn new(stream: &Arc<CudaStream>) -> Result<Blas, CudaError> {
        let api = load::api().map_err(|_| CudaError::CublasUnavailable)?;
        bind(stream)?;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: writes one handle; the stream's context is current on this thread.
        check(api, "cublasCreate", unsafe { (api.create)(&mut handle) })?;
        let blas = Blas {
            api,
            handle,
            stream: stream.clone(),
        };
        // SAFETY: the handle is live and the stream belongs to the current context.
        let status = unsafe { (api.set_stream)(handle, stream.cu_stream() as *mut c_void) };
        check(api, "cublasSetStream", status)?;
        Ok(blas)
    }

    /// Enqueues every call of `plan` on the handle's stream: `c = beta c + alpha a b`.
    /// The caller proved every call's operands inside their buffers (`plan` comes from sizes
    /// `LibraryCall::launch` checked, or from a convolution plan checked with `reach`).
    pub(super) fn gemm(
        &self,
        stream: &Arc<CudaStream>,
        types: GemmTypes,
        plan: &GemmPlan,
        (alpha, beta): (f64, f64),
        ptrs: GemmPtrs,
    ) -> Result<(), CudaError> {
        if plan.is_empty() || plan.k == 0 {
            return Ok(()); // k = 0 runs as a helper kernel (`runtime/library.rs`)
        }
        let (m, n, k) = (
            int("GEMM m", plan.m)?,
            int("GEMM n", plan.n)?,
            int("GEMM k", plan.k)?,
        );
        let (lda, ldb, ldc) = (
            int("GEMM lda", plan.first.ld)?,
            int("GEMM ldb", plan.second.ld)?,
            int("GEMM ldc", plan.ldc)?,
        );
        let count = int("GEMM batch count", plan.batch_count)?;
        let (sa, sb) = plan.operand_strides();
        let (sa, sb, sc) = (
            long("GEMM batch stride", sa)?,
            long("GEMM batch stride", sb)?,
            long("GEMM batch stride", plan.batch_strides[2])?,
        );
        let (a32, b32) = (alpha as f32, beta as f32);
        let (alpha_p, beta_p): (*const c_void, *const c_void) = match types.f64_scalars {
            true => (&alpha as *const f64 as _, &beta as *const f64 as _),
            false => (&a32 as *const f32 as _, &b32 as *const f32 as _),
        };
        let (first, second) = match plan.swapped {
            true => (ptrs.b, ptrs.a),
            false => (ptrs.a, ptrs.b),
        };
        let calls = plan
            .calls()
            .ok_or_else(|| too_large("a GEMM's batch offsets", usize::MAX, "they overflow"))?;
        bind(stream)?;
        for call in calls {
            let (fo, so) = plan.operand_offsets(call);
            let eb = ptrs.elem_bytes;
            let (pa, pb, pc) = (
                at(first, fo, eb)?,
                at(second, so, eb)?,
                at(ptrs.c, call[2], eb)?,
            );
            // SAFETY: the handle is live; pointers are device addresses of live buffers that
            // hold every element this call reaches (proved by the caller); the scalars are host
            // values of the compute type that outlive the call (pointer mode host).
            let status = unsafe {
                (self.api.gemm_strided_batched_ex)(
                    self.handle,
                    plan.first.trans as c_int,
                    plan.second.trans as c_int,
                    m,
                    n,
                    k,
                    alpha_p,
                    pa as *const c_void,
                    types.data,
                    lda,
                    sa,
                    pb as *const c_void,
                    types.data,
                    ldb,
                    sb,
                    beta_p,
                    pc as *mut c_void,
                    types.data,
                    ldc,
                    sc,
                    count,
                    types.compute,
                    CUBLAS_GEMM_DEFAULT,
                )
            };
            check(self.api, "cublasGemmStridedBatchedEx", status)?;
        }
        Ok(())
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        let _ = bind(&self.stream);
        // SAFETY: the handle was created by cublasCreate and is destroyed once.
        let _ = unsafe { (self.api.destroy)(self.handle) };
    }
}

fn bind(stream: &Arc<CudaStream>) -> Result<(), CudaError> {
    // cuBLAS (the runtime API) uses the thread's current context: make it the stream's.
    stream
        .context()
        .bind_to_thread()
        .map_err(|e| CudaError::driver("making the context current for cuBLAS", e))
}

fn check(api: &Api, call: &str, status: c_int) -> Result<(), CudaError> {
    match status {
        0 => Ok(()),
        _ => Err(CudaError::Cublas {
            call: call.to_string(),
            status: api.status_text(status),
        }),
    }
}
