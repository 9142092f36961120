//! Reference interpreter: reductions and softmax.
mod interp_common;

use interp_common::{assert_close, fixed, run1, single_op, t};
use kiln_ir::{DType, IrError, Op, ReduceOp, Tensor};

const NAN: f64 = f64::NAN;

fn reduce(op: ReduceOp, x: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor, IrError> {
    let decl: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let g = single_op(x.dtype, fixed(&decl), |id| Op::Reduce {
        op,
        x: id,
        dims: dims.to_vec(),
        keepdim,
    });
    run1(&g, std::slice::from_ref(x))
}

fn m23() -> Tensor {
    // [[1, 2, 3], [4, 5, 6]]
    t(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
}

#[test]
fn sum_and_mean_over_dims_with_keepdim_and_negative_dims() {
    let x = m23();
    let s = reduce(ReduceOp::Sum, &x, &[1], false).expect("sum");
    assert_eq!((s.shape.clone(), s.to_f64()), (vec![2], vec![6.0, 15.0]));
    let s = reduce(ReduceOp::Sum, &x, &[-2], true).expect("sum");
    assert_eq!(
        (s.shape.clone(), s.to_f64()),
        (vec![1, 3], vec![5.0, 7.0, 9.0])
    );
    let s = reduce(ReduceOp::Sum, &x, &[], false).expect("sum all");
    assert_eq!((s.shape.clone(), s.to_f64()), (vec![], vec![21.0]));
    let m = reduce(ReduceOp::Mean, &x, &[0, -1], true).expect("mean");
    assert_eq!((m.shape.clone(), m.to_f64()), (vec![1, 1], vec![3.5]));
    let m = reduce(ReduceOp::Mean, &x, &[-1], false).expect("mean");
    assert_eq!(m.to_f64(), vec![2.0, 5.0]);
}

#[test]
fn amax_and_amin_keep_dtype_and_propagate_nan() {
    let x = m23();
    let a = reduce(ReduceOp::Amax, &x, &[-1], true).expect("amax");
    assert_eq!((a.shape.clone(), a.to_f64()), (vec![2, 1], vec![3.0, 6.0]));
    let a = reduce(ReduceOp::Amin, &x, &[0], false).expect("amin");
    assert_eq!(
        (a.shape.clone(), a.to_f64()),
        (vec![3], vec![1.0, 2.0, 3.0])
    );

    let with_nan = t(DType::F16, &[2, 2], &[1.0, NAN, -3.0, -4.0]);
    let a = reduce(ReduceOp::Amax, &with_nan, &[1], false).expect("amax");
    assert_eq!(a.dtype, DType::F16);
    assert_close(&a.to_f64(), &[NAN, -3.0], 0.0);
    let a = reduce(ReduceOp::Amin, &with_nan, &[0], false).expect("amin");
    assert_close(&a.to_f64(), &[-3.0, NAN], 0.0);
    let b = t(DType::Bool, &[3], &[0.0, 1.0, 0.0]);
    let a = reduce(ReduceOp::Amax, &b, &[], false).expect("amax of bool");
    assert_eq!((a.dtype, a.to_f64()), (DType::Bool, vec![1.0]));
}

#[test]
fn f16_sum_accumulates_in_f64_and_rounds_once() {
    // Adding 1 to 2048 one at a time in f16 would stay at 2048 (2049 ties to even); the exact
    // sum 2050 is representable.
    let x = t(DType::F16, &[3], &[2048.0, 1.0, 1.0]);
    let s = reduce(ReduceOp::Sum, &x, &[0], false).expect("sum");
    assert_eq!((s.dtype, s.to_f64()), (DType::F16, vec![2050.0]));
}

#[test]
fn reductions_of_empty_tensors() {
    let empty = t(DType::F32, &[0, 3], &[]);
    let s = reduce(ReduceOp::Sum, &empty, &[0], false).expect("sum of empty");
    assert_eq!((s.shape.clone(), s.to_f64()), (vec![3], vec![0.0; 3]));
    let m = reduce(ReduceOp::Mean, &empty, &[0], false).expect("mean of empty");
    assert_close(&m.to_f64(), &[NAN; 3], 0.0);
    let a = reduce(ReduceOp::Amax, &empty, &[1], false).expect("non-empty reduced dim");
    assert_eq!(a.shape, vec![0]);
    let err = reduce(ReduceOp::Amax, &empty, &[0], false).expect_err("empty reduced dim");
    match err {
        IrError::Invalid { node, msg, .. } => {
            assert_eq!(node, "y");
            assert!(msg.contains("non-zero size"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sum_of_bool_counts_as_i64() {
    // torch.sum(torch.tensor([True, False, True])) is tensor(2) (int64).
    let y = reduce(
        ReduceOp::Sum,
        &t(DType::Bool, &[3], &[1.0, 0.0, 1.0]),
        &[],
        false,
    )
    .expect("bool sum");
    assert_eq!(y.dtype, DType::I64);
    assert_eq!(y.to_f64(), vec![2.0]);
}

fn softmax(x: &Tensor, dim: i64) -> Tensor {
    let decl: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let g = single_op(x.dtype, fixed(&decl), |id| Op::Softmax { x: id, dim });
    run1(&g, std::slice::from_ref(x)).expect("softmax")
}

#[test]
fn softmax_is_stable_and_runs_along_the_given_dim() {
    // exp(k)/sum(exp) for k = 1, 2, 3, from Python's math.exp.
    let want = [0.09003057317038046, 0.24472847105479767, 0.6652409557748219];
    let y = softmax(&t(DType::F64, &[3], &[1.0, 2.0, 3.0]), 0);
    assert_close(&y.to_f64(), &want, 1e-15);
    // Shifting by 1000 changes nothing and does not overflow.
    let y = softmax(&t(DType::F64, &[3], &[1001.0, 1002.0, 1003.0]), -1);
    assert_close(&y.to_f64(), &want, 1e-15);
    // Along dim 0 of [[0, -inf], [ln 3, 0]]: columns are independent.
    let y = softmax(
        &t(
            DType::F64,
            &[2, 2],
            &[0.0, f64::NEG_INFINITY, 3f64.ln(), 0.0],
        ),
        0,
    );
    assert_close(&y.to_f64(), &[0.25, 0.0, 0.75, 1.0], 1e-15);
    // A row of -inf gives NaN, as exp(-inf - -inf) does in PyTorch.
    let y = softmax(&t(DType::F32, &[1, 2], &[f64::NEG_INFINITY; 2]), 1);
    assert_close(&y.to_f64(), &[NAN, NAN], 0.0);
}
