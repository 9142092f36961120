//! GEMM steps on the CPU, with the `gemm` crate (runtime-dispatched AVX2/AVX-512 microkernels,
//! rayon threads): f32 and f64 natively, f16 and bf16 by widening the operands to f32 and
//! rounding the product back (f32 accumulation, as PyTorch).
//!
//! Pointer arithmetic trusts only what [`kiln_sched::LibraryCall::launch`] proved: every
//! element each operand's sizes and strides reach lies inside its buffer. This module adds
//! the checks the proof does not make (distinct buffers, an output that no two indices share,
//! strides that fit `isize`) before the one `unsafe` call site.
use gemm::{Parallelism, f16};
use half::bf16;
use half::slice::HalfFloatSliceExt;
use kiln_ir::DType;
use kiln_sched::{Gemm, GemmAt, LibraryCall, MatrixAt};
use rayon::prelude::*;

use super::Epilogue;
use crate::error::RunError;

/// The crate and version behind CPU GEMM steps, part of the CPU target id (the cache key).
/// (Cargo.lock pins it; a test checks that they agree.)
pub(crate) const LIBRARY: &str = "gemm-0.19.0";

/// Below this many multiply-adds a product runs on the calling thread: waking the pool costs
/// more than it saves.
const PARALLEL_WORK: usize = 1 << 17;

fn fail(g: &Gemm, msg: String) -> RunError {
    super::unsupported(&LibraryCall::Gemm(Box::new(g.clone())), &msg)
}

/// Element offsets of one product of the batch: `(a, b, c)`.
type Offsets = (usize, usize, usize);

fn batch_offset(m: &MatrixAt, index: &[usize]) -> usize {
    // In bounds (so no overflow): launch proved the largest such sum inside the buffer.
    m.offset
        + index
            .iter()
            .zip(&m.batch_strides)
            .map(|(i, s)| i * s)
            .sum::<usize>()
}

/// Whether the GEMM runs on several threads at `bindings`, as [`Call::run`] and
/// [`Call::run_fused`] (`fused`) decide: small products spread over the pool when together
/// they reach [`PARALLEL_WORK`]; a large one is split into column chunks when fused and wide
/// enough, else the crate threads it from its own threshold. False where a size does not
/// evaluate (the launch then reports it).
pub(crate) fn in_parallel(g: &Gemm, bindings: &kiln_shape::Bindings, fused: bool) -> bool {
    let size = |e: &kiln_shape::Expr| e.eval(bindings).ok().and_then(|v| usize::try_from(v).ok());
    let (Some(m), Some(n), Some(k)) = (size(&g.m), size(&g.n), size(&g.k)) else {
        return false;
    };
    let Some(products) = g
        .batch
        .iter()
        .try_fold(1usize, |acc, e| Some(acc.saturating_mul(size(e)?)))
    else {
        return false;
    };
    let work = m.saturating_mul(n).saturating_mul(k);
    if work < PARALLEL_WORK {
        return work.saturating_mul(products) >= PARALLEL_WORK;
    }
    let threads = rayon::current_num_threads();
    (fused && n.div_ceil(column_chunk(n, threads)) >= threads)
        || work >= gemm::get_threading_threshold()
}

/// The columns per task of a large fused product ([`Call::run_fused`]).
fn column_chunk(n: usize, threads: usize) -> usize {
    n.div_ceil(2 * threads).max(64).next_multiple_of(16)
}

/// Every batch index's operand offsets, in C order.
fn batch_offsets(at: &GemmAt) -> Vec<Offsets> {
    let count: usize = at.batch.iter().product();
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; at.batch.len()];
    for _ in 0..count {
        out.push((
            batch_offset(&at.a, &index),
            batch_offset(&at.b, &index),
            batch_offset(&at.c, &index),
        ));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < at.batch[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// Whether no two indices of `c` (batch, row, col) share an element: sorted by stride, each
/// dim's stride must step over everything the smaller dims reach. Threads write disjoint
/// parts of `c` only if this holds.
fn injective(c: &MatrixAt, batch: &[usize], m: usize, n: usize) -> bool {
    if m == 0 || n == 0 || batch.contains(&0) {
        return true; // nothing is written
    }
    let mut dims: Vec<(usize, usize)> = batch
        .iter()
        .copied()
        .zip(c.batch_strides.iter().copied())
        .chain([(m, c.row_stride), (n, c.col_stride)])
        .filter(|&(d, _)| d > 1)
        .map(|(d, s)| (s, d))
        .collect();
    dims.sort_unstable();
    let mut reach = 0usize; // the largest offset the smaller dims reach
    for (s, d) in dims {
        if s <= reach {
            return false;
        }
        reach += (d - 1) * s; // bounded by the proved extent of `c`
    }
    true
}

fn isize_of(g: &Gemm, v: usize) -> Result<isize, RunError> {
    isize::try_from(v).map_err(|_| fail(g, format!("stride {v} does not fit isize")))
}

/// The checks the launch proof leaves to the backend.
fn check(g: &Gemm, at: &GemmAt, ptrs: &[*mut u8]) -> Result<(), RunError> {
    for (what, buf) in [("a", g.a.buf), ("b", g.b.buf), ("c", g.c.buf)] {
        if ptrs.get(buf as usize).is_none() {
            return Err(fail(
                g,
                format!("{what} names buffer b{buf}, which does not exist"),
            ));
        }
    }
    if g.c.buf == g.a.buf || g.c.buf == g.b.buf {
        return Err(fail(g, "the output buffer is also an operand".into()));
    }
    if !injective(&at.c, &at.batch, at.m, at.n) {
        return Err(fail(
            g,
            "the output's strides make two elements share memory".into(),
        ));
    }
    for m in [&at.a, &at.b, &at.c] {
        isize_of(g, m.row_stride)?;
        isize_of(g, m.col_stride)?;
    }
    Ok(())
}

/// A raw address that may cross to a rayon worker; each product writes its own part of `c`.
#[derive(Clone, Copy)]
struct Addr(usize);

/// What one typed call needs: the three buffers' addresses and the scalars.
struct Call<'a, T> {
    at: &'a GemmAt,
    a: Addr,
    b: Addr,
    c: Addr,
    alpha: T,
    beta: T,
    /// Whether the old `c` is read (kiln's `beta != 0`); else it may be uninitialised.
    read_c: bool,
}

impl<T: 'static + Copy + Send + Sync> Call<'_, T> {
    /// Runs every product of the batch: one threaded GEMM each when products are large, the
    /// batch spread over the threads when they are small and many.
    fn run(&self) {
        let at = self.at;
        let work = at.m.saturating_mul(at.n).saturating_mul(at.k);
        let offsets = batch_offsets(at);
        let total = work.saturating_mul(offsets.len());
        if work >= PARALLEL_WORK || total < PARALLEL_WORK {
            let par = if work >= PARALLEL_WORK {
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            };
            offsets.iter().for_each(|&o| self.one(o, par));
        } else {
            offsets
                .par_iter()
                .for_each(|&o| self.one(o, Parallelism::None));
        }
    }

    /// As [`Call::run`], each part of `c` followed by `epilogue` on the thread that wrote it,
    /// while it is in cache. `c` is dense ([`dense_output`]): element `(p, i, j)` is point
    /// `p*m*n + i*n + j`, and `c`'s offset of product `p` is `p*m*n`. A large product goes in
    /// column chunks over the pool (each rereads `a`, but only its columns of `b`); small
    /// products go whole.
    fn run_fused(&self, epilogue: Epilogue) {
        let at = self.at;
        let (m, n) = (at.m, at.n);
        let work = m.saturating_mul(n).saturating_mul(at.k);
        let offsets = batch_offsets(at);
        let whole = |o: Offsets, par| {
            self.one(o, par);
            epilogue(o.2..o.2 + m * n);
        };
        let threads = rayon::current_num_threads();
        let chunk = column_chunk(n, threads);
        if work < PARALLEL_WORK {
            if work.saturating_mul(offsets.len()) < PARALLEL_WORK {
                offsets.iter().for_each(|&o| whole(o, Parallelism::None));
            } else {
                offsets
                    .par_iter()
                    .for_each(|&o| whole(o, Parallelism::None));
            }
        } else if n.div_ceil(chunk) < threads {
            // Too few columns to share out: the crate splits the rows over the pool.
            offsets
                .iter()
                .for_each(|&o| whole(o, Parallelism::Rayon(0)));
        } else {
            for &o in &offsets {
                (0..n.div_ceil(chunk)).into_par_iter().for_each(|c| {
                    let cols = c * chunk..((c + 1) * chunk).min(n);
                    self.part(o, cols.clone(), Parallelism::None);
                    for row in (0..m).map(|i| o.2 + i * n) {
                        epilogue(row + cols.start..row + cols.end);
                    }
                });
            }
        }
    }

    /// One product at element offsets `o`.
    fn one(&self, o: Offsets, par: Parallelism) {
        self.part(o, 0..self.at.n, par);
    }

    /// The columns `cols` (within `0..n`) of one product at element offsets `o`.
    fn part(&self, (oa, ob, oc): Offsets, cols: std::ops::Range<usize>, par: Parallelism) {
        let at = self.at;
        let (oc, ob) = (
            oc + cols.start * at.c.col_stride,
            ob + cols.start * at.b.col_stride,
        );
        let (a, b, c) = (
            self.a.0 as *const T,
            self.b.0 as *const T,
            self.c.0 as *mut T,
        );
        // SAFETY: `launch` proved every element the sizes and strides reach from these
        // offsets inside the buffers (with `k == 0` nothing of `a`/`b` is reached, nor read,
        // hence the wrapping offsets) (`ptrs[b]` holds `numels[b]` elements of the dtype
        // `T` is for); `cols` lies within `0..n`, so its columns are among them. `check`
        // proved the strides fit isize, that `c` is no operand and that its indices are
        // distinct, so concurrent products (or column ranges) write disjoint elements. The
        // crate's alpha scales the old `c` and its beta the product (the reverse of BLAS).
        unsafe {
            gemm::gemm(
                at.m,
                cols.len(),
                at.k,
                c.wrapping_add(oc),
                at.c.col_stride as isize,
                at.c.row_stride as isize,
                self.read_c,
                a.wrapping_add(oa),
                at.a.col_stride as isize,
                at.a.row_stride as isize,
                b.wrapping_add(ob),
                at.b.col_stride as isize,
                at.b.row_stride as isize,
                self.beta,
                self.alpha,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// `c = a @ b` for row-major f32 matrices (`a` m x k, `b` k x n, `c` m x n) with the same
/// crate, settings and threads as the GEMM steps: the reference that benchmarks compare
/// compiled matmuls with. Panics if a slice's length is not its matrix's.
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert_eq!(a.len(), m * k, "a is m x k");
    assert_eq!(b.len(), k * n, "b is k x n");
    assert_eq!(c.len(), m * n, "c is m x n");
    let at = GemmAt {
        batch: vec![],
        m,
        n,
        k,
        a: MatrixAt {
            offset: 0,
            batch_strides: vec![],
            row_stride: k,
            col_stride: 1,
        },
        b: MatrixAt {
            offset: 0,
            batch_strides: vec![],
            row_stride: n,
            col_stride: 1,
        },
        c: MatrixAt {
            offset: 0,
            batch_strides: vec![],
            row_stride: n,
            col_stride: 1,
        },
    };
    if m == 0 || n == 0 {
        return;
    }
    // The slices' lengths are the row-major extents checked above, as `launch` would prove.
    typed(
        &at,
        Ptrs::new(a.as_ptr(), b.as_ptr(), c.as_mut_ptr()),
        1.0,
        0.0,
        false,
        None,
    );
}

/// Runs the GEMM, then `epilogue` over its whole output (`c_points`, buffer `c`'s element
/// count, points): fused into the product, per part, when `c` is dense and all of its buffer
/// and the product is f32 or f64 without reading the old `c`; after it otherwise.
pub(super) fn run(
    g: &Gemm,
    at: &GemmAt,
    ptrs: &[*mut u8],
    epilogue: Option<(Epilogue, usize)>,
) -> Result<(), RunError> {
    check(g, at, ptrs)?;
    let read_c = g.beta != 0.0;
    let fused = epilogue.and_then(|(e, c_points)| {
        let fits = !read_c && matches!(g.dtype, DType::F32 | DType::F64);
        (fits && dense_output(at) && product_points(at) == Some(c_points)).then_some(e)
    });
    if fused.is_none()
        && let Some((e, c_points)) = epilogue
    {
        compute(g, at, ptrs, None)?;
        epilogue_after(e, c_points);
        return Ok(());
    }
    compute(g, at, ptrs, fused)
}

/// Elements of all the products' outputs.
fn product_points(at: &GemmAt) -> Option<usize> {
    at.batch
        .iter()
        .try_fold(at.m.checked_mul(at.n)?, |acc, &d| acc.checked_mul(d))
}

/// An epilogue that could not run per part, over all `points` after the product, split over
/// the pool as its own kernel step would be.
fn epilogue_after(epilogue: Epilogue, points: usize) {
    const TASK_POINTS: usize = 1 << 16;
    (0..points.div_ceil(TASK_POINTS))
        .into_par_iter()
        .for_each(|t| epilogue(t * TASK_POINTS..((t + 1) * TASK_POINTS).min(points)));
}

/// Whether `c` is dense from offset 0: rows of `n`, products of `m * n` in batch order.
fn dense_output(at: &GemmAt) -> bool {
    let c = &at.c;
    let mut stride = at.m.saturating_mul(at.n);
    let batch_dense = at.batch.iter().zip(&c.batch_strides).rev().all(|(&d, &s)| {
        let dense = d == 1 || s == stride;
        stride = stride.saturating_mul(d);
        dense
    });
    c.offset == 0
        && (at.n == 1 || c.col_stride == 1)
        && (at.m == 1 || c.row_stride == at.n)
        && batch_dense
}

fn compute(
    g: &Gemm,
    at: &GemmAt,
    ptrs: &[*mut u8],
    epilogue: Option<Epilogue>,
) -> Result<(), RunError> {
    if at.m == 0 || at.n == 0 || at.batch.contains(&0) {
        return Ok(());
    }
    let read_c = g.beta != 0.0;
    // The element type is the call's dtype, which the verifier checked against the buffers'.
    fn ptrs_of<T>(g: &Gemm, ptrs: &[*mut u8]) -> Ptrs<T> {
        let p = |buf: u32| ptrs[buf as usize] as *mut T;
        Ptrs::new(p(g.a.buf), p(g.b.buf), p(g.c.buf))
    }
    let (a32, b32) = (g.alpha as f32, g.beta as f32);
    match g.dtype {
        DType::F32 => typed(at, ptrs_of(g, ptrs), a32, b32, read_c, epilogue),
        DType::F64 => typed(at, ptrs_of(g, ptrs), g.alpha, g.beta, read_c, epilogue),
        // Widened to f32 rather than the crate's own f16 kernels: faster here (linalg_bench
        // hgemm_1024: 55 GFLOP/s with the crate's f16, 90 widened, loaded machine), and the
        // same f32 accumulation.
        DType::F16 => via_f32(g, at, ptrs_of::<f16>(g, ptrs), read_c),
        DType::BF16 => via_f32(g, at, ptrs_of::<bf16>(g, ptrs), read_c),
        other => return Err(fail(g, format!("GEMM of {other} is not supported"))),
    }
    Ok(())
}

/// The three operands' element pointers, typed so that the element type of a GEMM cannot
/// differ from its buffers' (addresses inside, to cross to rayon workers).
struct Ptrs<T> {
    a: Addr,
    b: Addr,
    c: Addr,
    _elem: std::marker::PhantomData<T>,
}

impl<T> Ptrs<T> {
    fn new(a: *const T, b: *const T, c: *mut T) -> Ptrs<T> {
        Ptrs {
            a: Addr(a as usize),
            b: Addr(b as usize),
            c: Addr(c as usize),
            _elem: std::marker::PhantomData,
        }
    }
}

fn typed<T: 'static + Copy + Send + Sync>(
    at: &GemmAt,
    p: Ptrs<T>,
    alpha: T,
    beta: T,
    read_c: bool,
    epilogue: Option<Epilogue>,
) {
    let call = Call {
        at,
        a: p.a,
        b: p.b,
        c: p.c,
        alpha,
        beta,
        read_c,
    };
    match epilogue {
        Some(e) => call.run_fused(e),
        None => call.run(),
    }
}

/// One past the last element `m` reaches (what `launch` proved inside its buffer); the
/// launch checked that it does not overflow.
fn extent(m: &MatrixAt, batch: &[usize], rows: usize, cols: usize) -> usize {
    if rows == 0 || cols == 0 || batch.contains(&0) {
        return 0;
    }
    let dims = batch
        .iter()
        .zip(&m.batch_strides)
        .chain([(&rows, &m.row_stride), (&cols, &m.col_stride)]);
    m.offset + dims.map(|(&d, &s)| (d - 1) * s).sum::<usize>() + 1
}

/// A 16-bit float type that GEMMs compute in f32.
/// A 16-bit float type that GEMMs compute in f32. The slice conversions use the CPU's
/// conversion instructions where it has them (F16C for f16), detected at run time by `half`.
trait Narrow: Copy + Default {
    fn widen(src: &[Self], dst: &mut [f32]);
    fn narrow(src: &[f32], dst: &mut [Self]);
}
impl Narrow for f16 {
    fn widen(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
    fn narrow(src: &[f32], dst: &mut [f16]) {
        dst.convert_from_f32_slice(src);
    }
}
impl Narrow for bf16 {
    fn widen(src: &[bf16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
    fn narrow(src: &[f32], dst: &mut [bf16]) {
        dst.convert_from_f32_slice(src);
    }
}

/// f16/bf16: the reached part of each buffer widened to f32, one f32 GEMM (f32 accumulation,
/// as PyTorch), and the reached part of `c` rounded back (an element the
/// strides skip round-trips through f32 unchanged).
fn via_f32<T: Narrow>(g: &Gemm, at: &GemmAt, p: Ptrs<T>, read_c: bool) {
    let (a, b, c) = (p.a, p.b, p.c);
    let ext_a = extent(&at.a, &at.batch, at.m, at.k);
    let ext_b = extent(&at.b, &at.batch, at.k, at.n);
    let ext_c = extent(&at.c, &at.batch, at.m, at.n);
    // SAFETY: each extent is what `launch` proved inside that buffer, whose elements are
    // `T` (the call's dtype, checked by the verifier); `c` is neither operand (`check`), so
    // the shared views of `a`/`b` and the exclusive one of `c` do not overlap. An empty
    // buffer's pointer may be null: nothing is reached there, and no slice is made of it.
    let view = |p: Addr, len: usize| -> &[T] {
        if len == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(p.0 as *const T, len) }
    };
    let (va, vb) = (view(a, ext_a), view(b, ext_b));
    // `c` is not empty: `run` returned early for an empty product.
    let vc = unsafe { std::slice::from_raw_parts_mut(c.0 as *mut T, ext_c) };
    let wide = |v: &[T]| -> Vec<f32> {
        let mut out = vec![0.0; v.len()];
        T::widen(v, &mut out);
        out
    };
    let (fa, fb) = (wide(va), wide(vb));
    let mut fc = if read_c { wide(vc) } else { vec![0.0; ext_c] };
    let ptrs = Ptrs::new(fa.as_ptr(), fb.as_ptr(), fc.as_mut_ptr());
    typed(at, ptrs, g.alpha as f32, g.beta as f32, read_c, None);
    T::narrow(&fc, vc);
}
