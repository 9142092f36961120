//! Library steps of a program (cuBLAS GEMM, convolution) on the device. The sizes come from
//! [`kiln_sched::LibraryCall::launch`], which proved them inside the buffers; every size
//! derived from them here is checked arithmetic, and every GEMM kiln builds itself (those of a
//! convolution) is checked against its buffers with [`reach`] before it is enqueued.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{
    CudaFunction, CudaModule, CudaStream, DevicePtr, LaunchConfig, PushKernelArg, SyncOnDrop,
};
use kiln_ir::DType;
use kiln_sched::{Conv, ConvAt, Gemm, GemmAt, LaunchAt, LibraryCall, Program};

use super::Slot;
use super::blas::{Blas, GemmPtrs, at};
use super::validate::Bound;
use crate::codegen::BLOCK_SIZE;
use crate::cublas::{GemmPlan, gemm_types, plan_gemm};
use crate::error::CudaError;
use crate::library::conv::reach;
use crate::library::helpers::{Helper, helper_entries, helper_name};
use crate::library::{ConvAlgo, ConvPlan, plan_conv};

/// The most blocks a helper launch uses; its grid-stride loop covers the rest.
const MAX_BLOCKS: usize = 1 << 20;

/// What library steps need of a loaded program: its helper kernels and (created on the first
/// GEMM, so a program without one never needs libcublas) a cuBLAS handle on its stream.
pub(super) struct Library {
    helpers: BTreeMap<String, CudaFunction>,
    blas: Mutex<Option<Blas>>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("helpers", &self.helpers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Library {
    /// Looks up the helper kernels the program's unit carries ([`helper_entries`]).
    pub(super) fn load(program: &Program, module: &Arc<CudaModule>) -> Result<Library, CudaError> {
        let mut helpers = BTreeMap::new();
        for name in helper_entries(program) {
            let f = module
                .load_function(&name)
                .map_err(|e| CudaError::driver(&format!("looking up helper kernel `{name}`"), e))?;
            helpers.insert(name, f);
        }
        Ok(Library {
            helpers,
            blas: Mutex::new(None),
        })
    }
}

/// One library step's context at a launch.
pub(super) struct StepCtx<'a> {
    pub stream: &'a Arc<CudaStream>,
    pub library: &'a Library,
    pub slots: &'a [Slot<'a>],
    pub sizes: &'a [usize],
}

fn fail(call: &str, msg: impl Into<String>) -> CudaError {
    CudaError::Library {
        call: call.to_string(),
        msg: msg.into(),
    }
}

pub(super) fn run(ctx: &StepCtx, call: &LibraryCall, bound: &Bound) -> Result<(), CudaError> {
    let numels: Vec<i64> = ctx
        .sizes
        .iter()
        .map(|&n| i64::try_from(n).unwrap_or(i64::MAX))
        .collect();
    match (call, call.launch(&bound.bindings, &numels)?) {
        (LibraryCall::Gemm(g), LaunchAt::Gemm(at)) => gemm_step(ctx, g, &at),
        (LibraryCall::Conv(c), LaunchAt::Conv(at)) => conv_step(ctx, c, &at),
        (LibraryCall::Index(_) | LibraryCall::PoolIndices(_), _) => Err(fail(
            call.name(),
            "the gather ops are not supported on the CUDA backend yet",
        )),
        (LibraryCall::ConvGrad(c), _) => Err(crate::artifact::conv_grad_unsupported(c)),
        (LibraryCall::PoolBackward(p), _) => Err(crate::library::unsupported_pool_grad(p)),
        _ => Err(fail(call.name(), "the call and its launch sizes disagree")),
    }
}

/// A buffer's device address, with the guard that records the stream's use of it on drop.
fn ptr<'a>(
    ctx: &'a StepCtx,
    buf: kiln_sched::BufId,
    call: &str,
) -> Result<(CUdeviceptr, SyncOnDrop<'a>), CudaError> {
    let slice = ctx
        .slots
        .get(buf as usize)
        .and_then(Slot::slice)
        .ok_or_else(|| fail(call, format!("buffer b{buf} has no memory")))?;
    Ok(slice.device_ptr(ctx.stream))
}

fn gemm_step(ctx: &StepCtx, g: &Gemm, at: &GemmAt) -> Result<(), CudaError> {
    let plan = plan_gemm(at).map_err(|m| fail(&g.name, m))?;
    let (a, _ga) = ptr(ctx, g.a.buf, &g.name)?;
    let (b, _gb) = ptr(ctx, g.b.buf, &g.name)?;
    let (c, _gc) = ptr(ctx, g.c.buf, &g.name)?;
    let ptrs = GemmPtrs {
        a,
        b,
        c,
        elem_bytes: g.dtype.size(),
    };
    run_gemm(ctx, &g.name, g.dtype, &plan, (g.alpha, g.beta), ptrs)
}

fn run_gemm(
    ctx: &StepCtx,
    call: &str,
    dtype: DType,
    plan: &GemmPlan,
    scalars: (f64, f64),
    ptrs: GemmPtrs,
) -> Result<(), CudaError> {
    if plan.is_empty() {
        return Ok(());
    }
    if plan.k == 0 {
        return gemm_k0(ctx, call, dtype, plan, scalars.1, ptrs);
    }
    let types = gemm_types(dtype)
        .ok_or_else(|| fail(call, format!("cuBLAS does not multiply {dtype} here")))?;
    // A poisoned lock only means an earlier call panicked; the handle is still valid.
    let mut blas = ctx.library.blas.lock().unwrap_or_else(|p| p.into_inner());
    if blas.is_none() {
        *blas = Some(Blas::new(ctx.stream)?);
    }
    match blas.as_ref() {
        Some(blas) => blas.gemm(ctx.stream, types, plan, scalars, ptrs),
        None => Err(CudaError::CublasUnavailable),
    }
}

/// `c = beta c` for a GEMM with k = 0 (cuBLAS is not asked to handle it).
fn gemm_k0(
    ctx: &StepCtx,
    call: &str,
    dtype: DType,
    plan: &GemmPlan,
    beta: f64,
    ptrs: GemmPtrs,
) -> Result<(), CudaError> {
    let f = helper(ctx, call, Helper::GemmK0, dtype)?;
    let calls = plan
        .calls()
        .ok_or_else(|| fail(call, "the batch offsets overflow"))?;
    let total = checked_product(&[plan.batch_count, plan.m, plan.n])
        .ok_or_else(|| fail(call, "the output size overflows"))?;
    let ints = [
        plan.batch_count,
        plan.batch_strides[2],
        plan.m,
        plan.n,
        plan.ldc,
    ];
    let ints = longs(call, &ints)?;
    for offsets in calls {
        let c = at(ptrs.c, offsets[2], ptrs.elem_bytes)?;
        let zero: i64 = 0;
        let mut b = ctx.stream.launch_builder(f);
        b.arg(&c).arg(&zero);
        for v in &ints {
            b.arg(v);
        }
        b.arg(&beta);
        // SAFETY: the arguments match `kiln_gemm_k0_<dtype>`; c holds every element the
        // plan's call reaches (the launch proof).
        unsafe { b.launch(config(total)) }
            .map_err(|e| CudaError::driver(&format!("launching `{call}`'s k = 0 kernel"), e))?;
    }
    Ok(())
}

fn conv_step(ctx: &StepCtx, c: &Conv, at: &ConvAt) -> Result<(), CudaError> {
    let eb = c.dtype.size();
    let plan = plan_conv(c, at, eb).map_err(|m| fail(&c.name, m))?;
    let (x, _gx) = ptr(ctx, c.x, &c.name)?;
    let (w, _gw) = ptr(ctx, c.w, &c.name)?;
    let (out, _go) = ptr(ctx, c.out, &c.name)?;
    match plan.algo {
        ConvAlgo::Empty => Ok(()),
        ConvAlgo::Depthwise => depthwise(ctx, c, &plan, [x, w, out]),
        ConvAlgo::Gemm {
            im2col,
            scratch_elems,
            ..
        } => {
            let bytes = scratch_elems
                .checked_mul(eb)
                .ok_or_else(|| fail(&c.name, "the im2col scratch size overflows"))?;
            // Stream-ordered scratch: freed after the GEMMs that read it, on the same stream.
            let scratch = match im2col {
                true => Some(super::alloc(ctx.stream, bytes)?),
                false => None,
            };
            let scratch_ptr = scratch.as_ref().map(|s| s.device_ptr(ctx.stream));
            let cols = match &scratch_ptr {
                Some((p, _)) => (*p, scratch_elems),
                None => (x, ctx.sizes[c.x as usize]),
            };
            for (first, images) in plan.chunks() {
                if im2col {
                    unfold(ctx, c, &plan, x, cols.0, first, images)?;
                }
                let g = plan
                    .gemm(first, images)
                    .ok_or_else(|| fail(&c.name, "the GEMM sizes overflow"))?;
                let room = [ctx.sizes[c.w as usize], cols.1, ctx.sizes[c.out as usize]];
                check_inside(&c.name, &g, room)?;
                let gp = plan_gemm(&g).map_err(|m| fail(&c.name, m))?;
                let ptrs = GemmPtrs {
                    a: w,
                    b: cols.0,
                    c: out,
                    elem_bytes: eb,
                };
                run_gemm(ctx, &c.name, c.dtype, &gp, (1.0, 0.0), ptrs)?;
            }
            Ok(())
        }
    }
}

/// Fails unless a GEMM kiln built stays inside buffers of `room` (A, B, C) elements.
fn check_inside(call: &str, g: &GemmAt, room: [usize; 3]) -> Result<(), CudaError> {
    let reaches = [
        reach(&g.a, &g.batch, g.m, g.k),
        reach(&g.b, &g.batch, g.k, g.n),
        reach(&g.c, &g.batch, g.m, g.n),
    ];
    for ((r, room), what) in reaches
        .into_iter()
        .zip(room)
        .zip(["weight", "columns", "output"])
    {
        match r {
            Some(r) if r <= room => {}
            _ => {
                return Err(fail(
                    call,
                    format!("the {what} GEMM operand reaches {r:?} elements of {room}"),
                ));
            }
        }
    }
    Ok(())
}

fn geometry_args(plan: &ConvPlan) -> [usize; 13] {
    let g = &plan.geom;
    [
        g.c_in, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh, g.ow,
    ]
}

fn unfold(
    ctx: &StepCtx,
    c: &Conv,
    plan: &ConvPlan,
    x: CUdeviceptr,
    col: CUdeviceptr,
    first: usize,
    images: usize,
) -> Result<(), CudaError> {
    let f = helper(ctx, &c.name, Helper::Im2col, c.dtype)?;
    let g = &plan.geom;
    let image = checked_product(&[g.c_in, g.h, g.w]);
    let x_off = image.and_then(|i| i.checked_mul(first));
    let total = checked_product(&[images, g.c_in, g.kh, g.kw, g.oh, g.ow]);
    let (Some(x_off), Some(total)) = (x_off, total) else {
        return Err(fail(&c.name, "the im2col sizes overflow"));
    };
    let mut ints = vec![x_off, images];
    ints.extend(geometry_args(plan));
    let ints = longs(&c.name, &ints)?;
    let mut b = ctx.stream.launch_builder(f);
    b.arg(&x).arg(&col);
    for v in &ints {
        b.arg(v);
    }
    // SAFETY: the arguments match `kiln_im2col_<dtype>`; it reads images first..first+images
    // of x (inside x: the launch proof covers all n images) and writes `total` elements of the
    // scratch, which holds a chunk's columns (`scratch_elems`).
    unsafe { b.launch(config(total)) }
        .map_err(|e| CudaError::driver(&format!("launching `{}`'s im2col", c.name), e))?;
    Ok(())
}

fn depthwise(
    ctx: &StepCtx,
    c: &Conv,
    plan: &ConvPlan,
    [x, w, out]: [CUdeviceptr; 3],
) -> Result<(), CudaError> {
    let f = helper(ctx, &c.name, Helper::Depthwise, c.dtype)?;
    let g = &plan.geom;
    let total = checked_product(&[plan.n, plan.c_out, g.oh, g.ow])
        .ok_or_else(|| fail(&c.name, "the output size overflows"))?;
    let geom = geometry_args(plan);
    let mut ints = vec![plan.n, geom[0], plan.c_out];
    ints.extend(&geom[1..]);
    let ints = longs(&c.name, &ints)?;
    let mut b = ctx.stream.launch_builder(f);
    b.arg(&x).arg(&w).arg(&out);
    for v in &ints {
        b.arg(v);
    }
    // SAFETY: the arguments match `kiln_depthwise_<dtype>`; x, w and out hold the elements of
    // their contiguous shapes at these sizes (the launch proof).
    unsafe { b.launch(config(total)) }
        .map_err(|e| CudaError::driver(&format!("launching `{}`'s depthwise kernel", c.name), e))?;
    Ok(())
}

fn helper<'a>(
    ctx: &'a StepCtx,
    call: &str,
    h: Helper,
    dtype: DType,
) -> Result<&'a CudaFunction, CudaError> {
    let name = helper_name(h, dtype).ok_or_else(|| fail(call, format!("no {dtype} helpers")))?;
    ctx.library
        .helpers
        .get(&name)
        .ok_or_else(|| fail(call, format!("the artifact lacks helper kernel `{name}`")))
}

fn checked_product(v: &[usize]) -> Option<usize> {
    v.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn longs(call: &str, v: &[usize]) -> Result<Vec<i64>, CudaError> {
    v.iter()
        .map(|&x| i64::try_from(x).map_err(|_| fail(call, format!("size {x} does not fit an i64"))))
        .collect()
}

fn config(total: usize) -> LaunchConfig {
    let blocks = total.div_ceil(BLOCK_SIZE as usize).clamp(1, MAX_BLOCKS);
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK_SIZE, 1, 1),
        shared_mem_bytes: 0,
    }
}
