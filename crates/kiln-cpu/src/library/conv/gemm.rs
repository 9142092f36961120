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
    let fits = |len: usize, r: Option<usize>| r.is_some_and(|r| r <= len);
    assert!(
        fits(dst.len(), reach(m, n, dst_rs, 1)),
        "gemm: dst out of bounds"
    );
    if k == 0 {
        if accumulate {
            return;
        }
        for row in dst.chunks_mut(dst_rs).take(m) {
            row[..n].fill(T::ZERO);
        }
        return;
    }
    // These hold by construction (the convolution's sizes were proved inside its buffers);
    // they are checked so that the pointer arithmetic below cannot leave the slices.
    assert!(
        fits(lhs.data.len(), reach(m, k, lhs.rs, lhs.cs)),
        "gemm: lhs out of bounds"
    );
    assert!(
        fits(rhs.data.len(), reach(k, n, rhs.rs, rhs.cs)),
        "gemm: rhs out of bounds"
    );
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
