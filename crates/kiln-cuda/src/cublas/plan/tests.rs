//! Every layout the lowering produces: plain, transposed B (`linear`'s weight), a transposed
//! A, broadcast batch (stride 0), merged and non-uniform batches, a column-major C, size-1
//! dims, and layouts cuBLAS cannot read in place.
use super::*;

#[path = "emulate.rs"]
mod emulate;
use emulate::assert_plan_computes;

pub(super) fn emulate_run(plan: &GemmPlan, bufs: [&[f64]; 2], c: &mut [f64]) {
    emulate::run_plan(plan, bufs, c, 1.0, 0.0)
}

fn mat(offset: usize, batch_strides: &[usize], row_stride: usize, col_stride: usize) -> MatrixAt {
    MatrixAt {
        offset,
        batch_strides: batch_strides.to_vec(),
        row_stride,
        col_stride,
    }
}

fn gemm(
    batch: &[usize],
    m: usize,
    n: usize,
    k: usize,
    a: MatrixAt,
    b: MatrixAt,
    c: MatrixAt,
) -> GemmAt {
    GemmAt {
        batch: batch.to_vec(),
        m,
        n,
        k,
        a,
        b,
        c,
    }
}

const N: Trans = Trans::N;
const T: Trans = Trans::T;

fn op(trans: Trans, ld: usize) -> Operand {
    Operand { trans, ld }
}

#[test]
fn plain_row_major_is_the_swapped_column_major_product() {
    // a 3x4, b 4x5, c 3x5, all contiguous.
    let g = gemm(
        &[],
        3,
        5,
        4,
        mat(0, &[], 4, 1),
        mat(0, &[], 5, 1),
        mat(0, &[], 5, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert!(p.swapped);
    assert_eq!((p.m, p.n, p.k), (5, 3, 4));
    assert_eq!(p.first, op(N, 5)); // B^T as column-major 5x4: ld 5
    assert_eq!(p.second, op(N, 4)); // A^T as column-major 4x3: ld 4
    assert_eq!(p.ldc, 5);
    assert_eq!((p.batch_count, p.loops.len()), (1, 0));
    assert_eq!(p.calls().unwrap(), vec![[0, 0, 0]]);
}

#[test]
fn linear_reads_its_weight_transposed_in_place() {
    // x [m=2, k=3] @ w^T where w is [n=4, k=3] contiguous: b(l, j) = w[j, l] at j*3 + l.
    let g = gemm(
        &[],
        2,
        4,
        3,
        mat(0, &[], 3, 1),
        mat(0, &[], 1, 3),
        mat(0, &[], 4, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert!(p.swapped);
    assert_eq!(p.first, op(T, 3)); // cuBLAS A = w as stored (3 x 4 column-major), transposed
    assert_eq!(p.second, op(N, 3));
    assert_eq!(p.ldc, 4);
}

#[test]
fn a_transposed_a_is_read_transposed() {
    // a = x^T with x [k=4, m=3] contiguous: a(i, l) at l*3 + i.
    let g = gemm(
        &[],
        3,
        5,
        4,
        mat(0, &[], 1, 3),
        mat(0, &[], 5, 1),
        mat(0, &[], 5, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!(p.second, op(T, 3));
    assert_eq!(p.first, op(N, 5));
}

#[test]
fn a_column_major_c_is_computed_directly() {
    // c(i, j) at j*3 + i: cuBLAS's own layout, no swap.
    let g = gemm(
        &[],
        3,
        5,
        4,
        mat(0, &[], 4, 1),
        mat(0, &[], 5, 1),
        mat(0, &[], 1, 3),
    );
    let p = plan_gemm(&g).unwrap();
    assert!(!p.swapped);
    assert_eq!((p.m, p.n, p.k), (3, 5, 4));
    assert_eq!(p.first, op(T, 4));
    assert_eq!(p.second, op(T, 5));
    assert_eq!(p.ldc, 3);
}

#[test]
fn uniform_batch_dims_merge_into_one_strided_batched_call() {
    // [2, 3] batch of contiguous 4x5 @ 5x6 -> 4x6.
    let g = gemm(
        &[2, 3],
        4,
        6,
        5,
        mat(7, &[60, 20], 5, 1),
        mat(0, &[90, 30], 6, 1),
        mat(0, &[72, 24], 6, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!(p.batch_count, 6);
    assert_eq!(p.batch_strides, [20, 30, 24]);
    assert!(p.loops.is_empty());
    assert_eq!(p.operand_strides(), (30, 20));
    assert_eq!(p.operand_offsets(p.calls().unwrap()[0]), (0, 7));
}

#[test]
fn a_broadcast_operand_has_batch_stride_zero() {
    // matmul([8, 4, 5], [5, 6]): b broadcast over the batch.
    let g = gemm(
        &[8],
        4,
        6,
        5,
        mat(0, &[20], 5, 1),
        mat(0, &[0], 6, 1),
        mat(0, &[24], 6, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!((p.batch_count, p.batch_strides), (8, [20, 0, 24]));
    assert_eq!(p.operand_strides(), (0, 20));
    // Broadcast over two dims ([2, 3] batch, b shared) still merges: 0 = 0 * 3.
    let g = gemm(
        &[2, 3],
        4,
        6,
        5,
        mat(0, &[60, 20], 5, 1),
        mat(0, &[0, 0], 6, 1),
        mat(0, &[72, 24], 6, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!(
        (p.batch_count, p.batch_strides, p.loops.len()),
        (6, [20, 0, 24], 0)
    );
}

#[test]
fn non_uniform_batches_loop_over_the_outer_dims() {
    // a broadcast over the inner batch dim only: [2, 3] batch, a [2, 1, 4, 5].
    let g = gemm(
        &[2, 3],
        4,
        6,
        5,
        mat(0, &[20, 0], 5, 1),
        mat(0, &[90, 30], 6, 1),
        mat(100, &[72, 24], 6, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!((p.batch_count, p.batch_strides), (3, [0, 30, 24]));
    assert_eq!(
        p.loops,
        vec![BatchLoop {
            count: 2,
            strides: [20, 90, 72]
        }]
    );
    assert_eq!(p.calls().unwrap(), vec![[0, 0, 100], [20, 90, 172]]);
}

#[test]
fn size_one_dims_do_not_constrain_their_strides() {
    // A matrix-vector product: n = 1, c a column with any col stride; batch dims of 1 vanish.
    let g = gemm(
        &[1],
        3,
        1,
        4,
        mat(0, &[99], 4, 1),
        mat(0, &[99], 1, 77),
        mat(0, &[99], 1, 55),
    );
    let p = plan_gemm(&g).unwrap();
    assert_eq!(p.batch_count, 1);
    assert!(p.loops.is_empty());
    assert!(p.ldc >= p.m.max(1));
    assert!(p.first.ld >= 1 && p.second.ld >= 1);
}

#[test]
fn empty_gemms_make_no_calls_and_k_zero_still_plans() {
    let g = gemm(
        &[0],
        3,
        5,
        4,
        mat(0, &[20], 4, 1),
        mat(0, &[20], 5, 1),
        mat(0, &[15], 5, 1),
    );
    assert!(plan_gemm(&g).unwrap().is_empty());
    let g = gemm(
        &[],
        3,
        5,
        0,
        mat(0, &[], 0, 1),
        mat(0, &[], 5, 1),
        mat(0, &[], 5, 1),
    );
    let p = plan_gemm(&g).unwrap();
    assert!(!p.is_empty());
    assert_eq!(p.k, 0);
}

#[test]
fn layouts_cublas_cannot_use_in_place_are_refused_naming_the_strides() {
    // a with neither stride 1.
    let g = gemm(
        &[],
        3,
        5,
        4,
        mat(0, &[], 8, 2),
        mat(0, &[], 5, 1),
        mat(0, &[], 5, 1),
    );
    let e = plan_gemm(&g).unwrap_err();
    assert!(e.contains("row stride 8, col stride 2"), "{e}");
    // A leading dimension smaller than the rows: overlapping rows of b.
    let g = gemm(
        &[],
        3,
        5,
        4,
        mat(0, &[], 4, 1),
        mat(0, &[], 2, 1),
        mat(0, &[], 5, 1),
    );
    assert!(plan_gemm(&g).is_err());
    // c written by several batches at once.
    let g = gemm(
        &[2],
        3,
        5,
        4,
        mat(0, &[12], 4, 1),
        mat(0, &[20], 5, 1),
        mat(0, &[0], 5, 1),
    );
    assert!(plan_gemm(&g).unwrap_err().contains("overlap"));
}

#[test]
fn every_planned_layout_computes_what_kiln_means_when_cublas_is_emulated() {
    let cases = [
        gemm(
            &[],
            3,
            5,
            4,
            mat(0, &[], 4, 1),
            mat(0, &[], 5, 1),
            mat(0, &[], 5, 1),
        ),
        gemm(
            &[],
            2,
            4,
            3,
            mat(2, &[], 3, 1),
            mat(0, &[], 1, 3),
            mat(1, &[], 4, 1),
        ),
        gemm(
            &[],
            3,
            5,
            4,
            mat(0, &[], 1, 3),
            mat(0, &[], 5, 1),
            mat(0, &[], 5, 1),
        ),
        gemm(
            &[],
            3,
            5,
            4,
            mat(0, &[], 4, 1),
            mat(0, &[], 1, 4),
            mat(0, &[], 1, 3),
        ),
        gemm(
            &[],
            3,
            5,
            4,
            mat(0, &[], 4, 1),
            mat(0, &[], 5, 1),
            mat(0, &[], 1, 3),
        ),
        // padded leading dimensions
        gemm(
            &[],
            3,
            5,
            4,
            mat(0, &[], 6, 1),
            mat(0, &[], 8, 1),
            mat(0, &[], 7, 1),
        ),
        gemm(
            &[2, 3],
            4,
            6,
            5,
            mat(7, &[60, 20], 5, 1),
            mat(0, &[90, 30], 6, 1),
            mat(0, &[72, 24], 6, 1),
        ),
        gemm(
            &[8],
            4,
            6,
            5,
            mat(0, &[20], 5, 1),
            mat(0, &[0], 6, 1),
            mat(0, &[24], 6, 1),
        ),
        gemm(
            &[2, 3],
            4,
            6,
            5,
            mat(0, &[20, 0], 5, 1),
            mat(0, &[90, 30], 6, 1),
            mat(100, &[72, 24], 6, 1),
        ),
        gemm(
            &[3, 1, 2],
            2,
            2,
            2,
            mat(0, &[8, 99, 4], 2, 1),
            mat(0, &[0, 99, 0], 1, 2),
            mat(0, &[8, 99, 4], 2, 1),
        ),
        gemm(
            &[1],
            3,
            1,
            4,
            mat(0, &[99], 4, 1),
            mat(0, &[99], 1, 77),
            mat(0, &[99], 1, 55),
        ),
        gemm(
            &[],
            1,
            5,
            4,
            mat(0, &[], 9, 1),
            mat(0, &[], 5, 1),
            mat(0, &[], 9, 1),
        ),
        gemm(
            &[],
            3,
            5,
            0,
            mat(0, &[], 0, 1),
            mat(0, &[], 5, 1),
            mat(0, &[], 5, 1),
        ),
    ];
    for g in &cases {
        assert_plan_computes(g);
    }
}
