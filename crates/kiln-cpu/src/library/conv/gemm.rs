//! The `gemm` crate behind a slice interface: the only raw-pointer call of the convolution
//! kernels, made after checking that every element it touches lies inside its slice.
use gemm::Parallelism;

use super::kernels::Float;

/// A row-major view: element `(i, j)` of the matrix is `data[i * rs + j * cs]`.
pub(super) struct View<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

/// The index of a `rows x cols` view's last element, plus one (`None` on overflow).
fn reach(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    let last = (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?;
    last.checked_add(1)
}

/// Panics unless a view reaching `reach` elements fits in a slice of `len`.
fn assert_inside(operand: &str, len: usize, reach: Option<usize>) {
    assert!(
        reach.is_some_and(|r| r <= len),
        "gemm: {operand} out of bounds"
    );
}

/// Panics unless the `m x n` output and the `m x k`, `k x n` operands (all non-empty) lie inside
/// their slices. These hold by construction (the convolution's sizes were proved inside its
/// buffers); they are checked so that the pointer arithmetic of a GEMM cannot leave the slices.
fn assert_operands_inside<T>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (&[T], usize),
    lhs: &View<T>,
    rhs: &View<T>,
) {
    assert_inside("dst", dst.len(), reach(m, n, dst_rs, 1));
    assert_inside("lhs", lhs.data.len(), reach(m, k, lhs.rs, lhs.cs));
    assert_inside("rhs", rhs.data.len(), reach(k, n, rhs.rs, rhs.cs));
}

/// `dst (m x n, row stride dst_rs, contiguous rows) = lhs (m x k) @ rhs (k x n)`, run on the
/// rayon pool when `parallel`.
pub(super) fn gemm<T: Float>(
    dims: (usize, usize, usize),
    dst: &mut [T],
    dst_rs: usize,
    lhs: View<T>,
    rhs: View<T>,
    parallel: bool,
) {
    gemm_into(dims, (dst, dst_rs, false), lhs, rhs, parallel)
}

/// As [`gemm`], but `dst += lhs @ rhs` (the weight gradient sums over images this way).
pub(super) fn gemm_acc<T: Float>(
    dims: (usize, usize, usize),
    dst: &mut [T],
    dst_rs: usize,
    lhs: View<T>,
    rhs: View<T>,
    parallel: bool,
) {
    gemm_into(dims, (dst, dst_rs, true), lhs, rhs, parallel)
}

/// `dst = lhs @ rhs`, or `dst += lhs @ rhs` when `accumulate`.
fn gemm_into<T: Float>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, accumulate): (&mut [T], usize, bool),
    lhs: View<T>,
    rhs: View<T>,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert_inside("dst", dst.len(), reach(m, n, dst_rs, 1));
    if k == 0 {
        if accumulate {
            return;
        }
        for row in dst.chunks_mut(dst_rs).take(m) {
            row[..n].fill(T::ZERO);
        }
        return;
    }
    assert_operands_inside((m, n, k), (dst, dst_rs), &lhs, &rhs);
    let par = if parallel {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    let s = |v: usize| v as isize;
    // SAFETY: every element `gemm` reads or writes is `(i, j)` with `i < rows`, `j < cols` of
    // its operand, at `i * rs + j * cs`, inside the slice by the checks above (strides fit in
    // isize since the slices' byte lengths do); `dst` is borrowed mutably, so it overlaps
    // neither operand; `dst`'s old contents are read only when `accumulate` (then the caller
    // initialised them: `dst` is a slice of initialised `T`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            s(dst_rs),
            accumulate,
            lhs.data.as_ptr(),
            s(lhs.cs),
            s(lhs.rs),
            rhs.data.as_ptr(),
            s(rhs.cs),
            s(rhs.rs),
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

/// What runs on the columns `j0..j1` of a GEMM's output right after one thread computed them
/// (a convolution's epilogue kernel, while they are in that thread's cache).
pub(super) type AfterColumns<'a> = &'a (dyn Fn(std::ops::Range<usize>) + Sync);

/// `dst = lhs @ rhs` in chunks of `chunk` columns spread over the rayon pool, each chunk a
/// single-threaded GEMM followed by `after(columns)` on the same thread.
pub(super) fn gemm_by_columns<T: Float>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (&mut [T], usize),
    lhs: View<T>,
    rhs: View<T>,
    chunk: usize,
    after: AfterColumns,
) {
    use rayon::prelude::*;
    if m == 0 || n == 0 || k == 0 {
        gemm((m, n, k), dst, dst_rs, lhs, rhs, false);
        after(0..n);
        return;
    }
    assert_operands_inside((m, n, k), (dst, dst_rs), &lhs, &rhs);
    let chunk = chunk.max(1);
    let shared = SharedDst(dst.as_mut_ptr());
    let s = |v: usize| v as isize;
    (0..n.div_ceil(chunk)).into_par_iter().for_each(|c| {
        let (j0, j1) = (c * chunk, ((c + 1) * chunk).min(n));
        let dst = shared.get();
        // SAFETY: the whole `m x n` output, `m x k` lhs and `k x n` rhs lie inside their
        // slices (checked above); this task reads the rhs columns `j0..j1` and writes the dst
        // columns `j0..j1`, which no other task touches, and `dst` is borrowed mutably for the
        // whole call, so it overlaps neither operand.
        unsafe {
            gemm::gemm(
                m,
                j1 - j0,
                k,
                dst.add(j0),
                1,
                s(dst_rs),
                false,
                lhs.data.as_ptr(),
                s(lhs.cs),
                s(lhs.rs),
                rhs.data.as_ptr().add(j0 * rhs.cs),
                s(rhs.cs),
                s(rhs.rs),
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                Parallelism::None,
            )
        }
        after(j0..j1);
    });
}

/// The output pointer, shared by tasks that write disjoint columns.
#[derive(Clone, Copy)]
struct SharedDst<T>(*mut T);
// SAFETY: tasks write disjoint elements through it (see `gemm_by_columns`).
unsafe impl<T> Send for SharedDst<T> {}
unsafe impl<T> Sync for SharedDst<T> {}

impl<T> SharedDst<T> {
    /// A method (not field access), so that closures capture the whole `Sync` wrapper.
    fn get(self) -> *mut T {
        self.0
    }
}
