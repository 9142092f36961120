//! Reference interpreter: layout ops produce contiguous results.
mod interp_common;

use interp_common::{fixed, run1, single_op, t};
use kiln_ir::{DType, IrError, Op, Tensor};
use kiln_shape::Dim;

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    t(
        DType::F32,
        shape,
        &(0..n).map(|v| v as f64).collect::<Vec<_>>(),
    )
}

fn run_on(x: &Tensor, build: impl FnOnce(kiln_ir::NodeId) -> Op) -> Result<Tensor, IrError> {
    let decl: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    run1(
        &single_op(x.dtype, fixed(&decl), build),
        std::slice::from_ref(x),
    )
}

#[test]
fn permute_and_transpose_gather_in_c_order() {
    // x[i][j][k] = 6i + 3j + k over [2, 2, 3]; permute(2, 0, 1) gives y[k][i][j] = x[i][j][k].
    let x = iota(&[2, 2, 3]);
    let y = run_on(&x, |x| Op::Permute {
        x,
        dims: vec![2, 0, -2],
    })
    .expect("permute");
    assert_eq!(y.shape, vec![3, 2, 2]);
    assert_eq!(
        y.to_f64(),
        vec![0.0, 3.0, 6.0, 9.0, 1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0]
    );
    let y = run_on(&iota(&[2, 3]), |x| Op::Transpose {
        x,
        dim0: 0,
        dim1: -1,
    })
    .expect("t");
    assert_eq!(y.shape, vec![3, 2]);
    assert_eq!(y.to_f64(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}

#[test]
fn reshape_infers_minus_one_and_rejects_bad_counts() {
    let x = iota(&[2, 6]);
    let y = run_on(&x, |x| Op::Reshape {
        x,
        shape: vec![Dim::Fixed(-1), Dim::Fixed(4)],
    })
    .expect("reshape");
    assert_eq!(y.shape, vec![3, 4]);
    assert_eq!(y.to_f64(), x.to_f64());
    let err = run_on(&x, |x| Op::Reshape {
        x,
        shape: vec![Dim::Fixed(-1), Dim::Fixed(5)],
    })
    .expect_err("12 is not a multiple of 5");
    assert!(err.to_string().contains("12"), "{err}");
    let err = run_on(&x, |x| Op::Reshape {
        x,
        shape: vec![Dim::Fixed(5), Dim::Fixed(2)],
    })
    .expect_err("10 != 12");
    let msg = err.to_string();
    assert!(msg.contains("12") && msg.contains("10"), "{msg}");
}

#[test]
fn reshape_by_symbol_uses_the_bound_size() {
    let g = single_op(DType::F32, vec![Dim::Sym("N".into()), Dim::Fixed(4)], |x| {
        Op::Reshape {
            x,
            shape: vec![Dim::Fixed(2), Dim::Sym("N".into()), Dim::Fixed(-1)],
        }
    });
    let y = run1(&g, &[iota(&[3, 4])]).expect("reshape");
    assert_eq!(y.shape, vec![2, 3, 2]);
}

#[test]
fn squeeze_unsqueeze_and_expand() {
    let x = iota(&[1, 3, 1]);
    let y = run_on(&x, |x| Op::Squeeze { x, dims: None }).expect("squeeze");
    assert_eq!(y.shape, vec![3]);
    let y = run_on(&x, |x| Op::Squeeze {
        x,
        dims: Some(vec![1]),
    })
    .expect("squeeze non-1 is a no-op");
    assert_eq!(y.shape, vec![1, 3, 1]);
    let y = run_on(&x, |x| Op::Squeeze {
        x,
        dims: Some(vec![-1]),
    })
    .expect("squeeze last");
    assert_eq!(y.shape, vec![1, 3]);
    let y = run_on(&x, |x| Op::Unsqueeze { x, dim: -1 }).expect("unsqueeze");
    assert_eq!(y.shape, vec![1, 3, 1, 1]);

    // [3, 1] -> [2, 3, 2]: a new leading dim, a kept dim (-1) and a size-1 dim expanded.
    let y = run_on(&iota(&[3, 1]), |x| Op::Expand {
        x,
        shape: vec![Dim::Fixed(2), Dim::Fixed(-1), Dim::Fixed(2)],
    })
    .expect("expand");
    assert_eq!(y.shape, vec![2, 3, 2]);
    assert_eq!(
        y.to_f64(),
        vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    );
    let err = run_on(&iota(&[3]), |x| Op::Expand {
        x,
        shape: vec![Dim::Fixed(4)],
    })
    .expect_err("3 cannot expand to 4");
    assert!(err.to_string().contains("must match"), "{err}");
}

#[test]
fn empty_tensors_flow_through_layout_and_elementwise_ops() {
    let x = t(DType::F32, &[0, 3], &[]);
    let y = run_on(&x, |x| Op::Transpose {
        x,
        dim0: 0,
        dim1: 1,
    })
    .expect("transpose");
    assert_eq!((y.shape.clone(), y.data.len()), (vec![3, 0], 0));
    let y = run_on(&x, |x| Op::Unary {
        op: kiln_ir::UnaryOp::Exp,
        x,
    })
    .expect("exp");
    assert_eq!(y.shape, vec![0, 3]);
}
