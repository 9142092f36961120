//! Reference interpreter: pooling, against hand-computed windows (each case's comment lists
//! the windows PyTorch's formulas give).
mod interp_common;

use interp_common::{assert_close, fixed, pool2d_params, run1, single_op, t};
use kiln_ir::{DType, IrError, Op, Pool2d, Tensor};

/// Pools along W only: H has kernel 1, stride 1, no padding.
fn row_params(k: i64, s: i64, p: i64, d: i64, ceil: bool, cip: bool) -> Pool2d {
    pool2d_params([1, k], [1, s], [0, p], [1, d], ceil, cip)
}

fn pool(x: &Tensor, build: impl FnOnce(kiln_ir::NodeId) -> Op) -> Result<Tensor, IrError> {
    let decl: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let g = single_op(x.dtype, fixed(&decl), build);
    run1(&g, std::slice::from_ref(x))
}

fn row(values: &[f64]) -> Tensor {
    t(DType::F32, &[1, 1, 1, values.len()], values)
}

fn max_row(values: &[f64], p: Pool2d) -> Vec<f64> {
    let out = pool(&row(values), |x| Op::MaxPool2d { x, params: p }).expect("max_pool2d");
    assert_eq!(out.shape[..3], [1, 1, 1]);
    out.to_f64()
}

fn avg_row(values: &[f64], p: Pool2d) -> Vec<f64> {
    pool(&row(values), |x| Op::AvgPool2d { x, params: p })
        .expect("avg_pool2d")
        .to_f64()
}

#[test]
fn max_pool_ceil_mode_keeps_a_window_starting_inside_the_input() {
    // W=6, k=3, s=2, p=1. floor: (6+2-2-1)/2+1 = 3; ceil: 4, and the last window starts at
    // 3*2-1 = 5 < W+p, so it stays. Windows: [-1,1] [1,3] [3,5] [5,7].
    let x = [1.0, 5.0, 2.0, 8.0, 3.0, 4.0];
    assert_eq!(
        max_row(&x, row_params(3, 2, 1, 1, false, true)),
        vec![5.0, 8.0, 8.0]
    );
    assert_eq!(
        max_row(&x, row_params(3, 2, 1, 1, true, true)),
        vec![5.0, 8.0, 8.0, 4.0]
    );
}

#[test]
fn max_pool_ceil_mode_drops_a_window_starting_in_the_right_padding() {
    // W=5, k=2, s=2, p=1: ceil gives 4 windows, but the 4th would start at 3*2-1 = 5 >= W,
    // i.e. entirely in the right padding (6 >= W+p), so PyTorch keeps 3: [-1,0] [1,2] [3,4].
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(
        max_row(&x, row_params(2, 2, 1, 1, true, true)),
        vec![1.0, 3.0, 5.0]
    );
}

#[test]
fn max_pool_with_dilation() {
    // k=3, d=2: taps o, o+2, o+4 (p=0) and o-1, o+1, o+3 (p=1).
    let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0];
    assert_eq!(
        max_row(&x, row_params(3, 1, 0, 2, false, true)),
        vec![5.0, 9.0, 5.0]
    );
    assert_eq!(
        max_row(&x, row_params(3, 1, 1, 2, false, true)),
        vec![1.0, 5.0, 9.0, 5.0, 9.0]
    );
}

#[test]
fn max_pool_padding_is_minus_infinity_and_nan_propagates() {
    assert_eq!(
        max_row(&[-5.0, -3.0], row_params(2, 2, 1, 1, false, true)),
        vec![-5.0, -3.0]
    );
    let got = max_row(
        &[1.0, f64::NAN, 3.0, 0.0],
        row_params(2, 2, 0, 1, false, true),
    );
    assert_close(&got, &[f64::NAN, 3.0], 0.0);
}

#[test]
fn max_pool_keeps_batch_and_channel_planes_apart() {
    let x = t(
        DType::F32,
        &[2, 2, 2, 2],
        &(0..16).map(f64::from).collect::<Vec<_>>(),
    );
    let p = pool2d_params([2, 2], [2, 2], [0, 0], [1, 1], false, true);
    let out = pool(&x, |x| Op::MaxPool2d { x, params: p }).expect("max_pool2d");
    assert_eq!(out.shape, vec![2, 2, 1, 1]);
    assert_eq!(out.to_f64(), vec![3.0, 7.0, 11.0, 15.0]);
}

#[test]
fn unbatched_pools_keep_rank_3_and_channel_planes_apart() {
    // (C, H, W) = (3, 2, 2): each channel is one plane, as in PyTorch's unbatched pooling.
    let x = t(
        DType::F32,
        &[3, 2, 2],
        &(0..12).map(f64::from).collect::<Vec<_>>(),
    );
    let p = pool2d_params([2, 2], [2, 2], [0, 0], [1, 1], false, true);
    let out = pool(&x, |x| Op::MaxPool2d { x, params: p }).expect("max_pool2d");
    assert_eq!(out.shape, vec![3, 1, 1]);
    assert_eq!(out.to_f64(), vec![3.0, 7.0, 11.0]);
    let out = pool(&x, |x| Op::AvgPool2d { x, params: p }).expect("avg_pool2d");
    assert_eq!(out.to_f64(), vec![1.5, 5.5, 9.5]);
    let out = pool(&x, |x| Op::AdaptiveMaxPool2d {
        x,
        output_size: [1, 2],
    })
    .expect("adaptive_max_pool2d");
    assert_eq!(out.shape, vec![3, 1, 2]);
    assert_eq!(out.to_f64(), vec![2.0, 3.0, 6.0, 7.0, 10.0, 11.0]);
}

#[test]
fn avg_pool_divisor_with_and_without_padding() {
    // 3x3 of 1..9, k=2, s=2, p=1 -> 2x2. Windows clipped to rows/cols {0} and {1,2}; the
    // padded window is 2x2 = 4 everywhere.
    let x = t(
        DType::F32,
        &[1, 1, 3, 3],
        &(1..=9).map(f64::from).collect::<Vec<_>>(),
    );
    let run = |cip| {
        let p = pool2d_params([2, 2], [2, 2], [1, 1], [1, 1], false, cip);
        pool(&x, |x| Op::AvgPool2d { x, params: p }).expect("avg_pool2d")
    };
    // Sums: 1, 2+3, 4+7, 5+6+8+9.
    assert_eq!(
        run(true).to_f64(),
        vec![1.0 / 4.0, 5.0 / 4.0, 11.0 / 4.0, 28.0 / 4.0]
    );
    assert_eq!(
        run(false).to_f64(),
        vec![1.0, 5.0 / 2.0, 11.0 / 2.0, 28.0 / 4.0]
    );
}

#[test]
fn avg_pool_ceil_mode_window_clipped_at_the_padded_end() {
    // W=6, k=3, s=2, p=1, ceil -> 4 windows: [-1,2) [1,4) [3,6) and [5,8) clipped to W+p = 7,
    // so its padded size is 2 (not 3) and its in-bounds size is 1.
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(
        avg_row(&x, row_params(3, 2, 1, 1, true, true)),
        vec![3.0 / 3.0, 9.0 / 3.0, 15.0 / 3.0, 6.0 / 2.0]
    );
    assert_eq!(
        avg_row(&x, row_params(3, 2, 1, 1, true, false)),
        vec![3.0 / 2.0, 9.0 / 3.0, 15.0 / 3.0, 6.0]
    );
}

#[test]
fn adaptive_pools_with_unequal_windows() {
    // 10 -> 7: windows [floor(o*10/7), ceil((o+1)*10/7)) =
    // [0,2) [1,3) [2,5) [4,6) [5,8) [7,9) [8,10).
    let ramp: Vec<f64> = (0..10).map(f64::from).collect();
    let avg = pool(&row(&ramp), |x| Op::AdaptiveAvgPool2d {
        x,
        output_size: [1, 7],
    })
    .expect("adaptive avg");
    assert_eq!(avg.shape, vec![1, 1, 1, 7]);
    assert_eq!(avg.to_f64(), vec![0.5, 1.5, 3.0, 4.5, 6.0, 7.5, 8.5]);

    let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0];
    let max = pool(&row(&x), |x| Op::AdaptiveMaxPool2d {
        x,
        output_size: [1, 7],
    })
    .expect("adaptive max");
    assert_eq!(max.to_f64(), vec![3.0, 4.0, 5.0, 9.0, 9.0, 6.0, 5.0]);
}

#[test]
fn adaptive_avg_pool_in_two_dims_with_overlapping_windows() {
    // 3 -> 2: windows [0,2) and [1,3) in both dims, over 1..9.
    let x = t(
        DType::F32,
        &[1, 1, 3, 3],
        &(1..=9).map(f64::from).collect::<Vec<_>>(),
    );
    let out = pool(&x, |x| Op::AdaptiveAvgPool2d {
        x,
        output_size: [2, 2],
    })
    .expect("runs");
    assert_eq!(out.to_f64(), vec![3.0, 4.0, 6.0, 7.0]);
}

#[test]
fn pooling_rejects_bad_parameters_and_too_small_inputs() {
    // Padding above half the kernel.
    let err = pool(&row(&[1.0; 4]), |x| Op::MaxPool2d {
        x,
        params: row_params(2, 1, 2, 1, false, true),
    })
    .expect_err("pad > k/2");
    assert!(err.to_string().contains("at most half"), "{err}");
    // Output size 0: W=2, k=3, no padding.
    let err = pool(&row(&[1.0; 2]), |x| Op::MaxPool2d {
        x,
        params: row_params(3, 1, 0, 1, false, true),
    })
    .expect_err("too small");
    assert!(err.to_string().contains("too small"), "{err}");
    // Rank 2 input (ranks 3 and 4 pool).
    let x = t(DType::F32, &[2, 2], &[1.0; 4]);
    let err = pool(&x, |x| Op::AdaptiveAvgPool2d {
        x,
        output_size: [1, 1],
    })
    .expect_err("rank 2");
    assert!(err.to_string().contains("found rank 2"), "{err}");
}
