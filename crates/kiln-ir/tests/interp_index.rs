//! Reference interpreter and checks of the index family: int64 dtype rules, argmax/argmin,
//! max/min with a dim; hand-computed cases (values from torch 2.15) and typed errors.
use kiln_ir::{DType, IrError, Tensor, interpret, parse};

fn run(src: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    let g = parse(src)?;
    interpret(&g, inputs)
}

fn err(src: &str, inputs: &[Tensor]) -> String {
    match run(src, inputs) {
        Ok(_) => panic!("expected an error:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn argmax_argmin_follow_torch_on_ties_nan_and_flattening() {
    let nan = f64::NAN;
    let x = Tensor::from_f64(DType::F32, &[2, 3], &[1.0, 3.0, 3.0, nan, 2.0, nan]);
    let src = "graph g\ninput x: f32[2, 3]\na = argmax(x)\nb = argmax(x, 1)\nc = argmin(x, 1)\n\
               d = argmax(x, 0, keepdim=true)\ne = argmin(x, dim=None, keepdim=true)\n\
               output a, b, c, d, e\n";
    let out = run(src, &[x]).unwrap();
    let got: Vec<(Vec<usize>, Vec<i64>)> = out
        .iter()
        .map(|t| (t.shape.clone(), t.to_i64().expect("i64")))
        .collect();
    assert_eq!(
        got,
        [
            (vec![], vec![3]),
            (vec![2], vec![1, 0]),
            (vec![2], vec![0, 0]),
            (vec![1, 3], vec![1, 0, 1]),
            (vec![1, 1], vec![3]),
        ]
    );
    // A 0-d input: index 0 along its dim 0 / -1.
    let s = Tensor::from_f64(DType::F64, &[], &[5.0]);
    let out = run(
        "graph g\ninput x: f64[]\na = argmax(x, 0)\noutput a\n",
        &[s],
    )
    .unwrap();
    assert_eq!(
        (out[0].shape.clone(), out[0].to_i64().unwrap()),
        (vec![], vec![0])
    );
}

#[test]
fn max_with_a_dim_gives_values_and_indices_and_without_one_the_maximum() {
    let x = Tensor::from_i64(&[2, 3], &[4, -1, 4, 0, 8, 8]);
    let b = Tensor::from_f64(DType::Bool, &[3], &[0.0, 1.0, 1.0]);
    let src = "graph g\ninput x: i64[2, 3]\ninput b: bool[3]\nv, i = max(x, 1)\n\
               w, j = min(x, dim=0, keepdim=true)\nm = max(x)\ny = min(x, x)\nbv, bi = max(b, 0)\n\
               output v, i, w, j, m, y, bv, bi\n";
    let out = run(src, &[x, b]).unwrap();
    assert_eq!(out[0].to_i64().unwrap(), [4, 8]);
    assert_eq!(out[1].to_i64().unwrap(), [0, 1]);
    assert_eq!(out[2].shape, [1, 3]);
    assert_eq!(out[2].to_i64().unwrap(), [0, -1, 4]);
    assert_eq!(out[3].to_i64().unwrap(), [1, 0, 0]);
    assert_eq!(
        (out[4].shape.clone(), out[4].to_i64().unwrap()),
        (vec![], vec![8])
    );
    assert_eq!(out[5].to_i64().unwrap(), [4, -1, 4, 0, 8, 8]);
    assert_eq!(out[6].dtype, DType::Bool);
    assert_eq!(out[7].to_i64().unwrap(), [1]);
}

#[test]
fn int64_promotion_and_truncation_follow_torch() {
    let x = Tensor::from_i64(&[3], &[7, -7, 2]);
    let src = "graph g\ninput x: i64[3]\na = div(x, x)\nb = add(x, 0.5)\nc = exp(x)\nd = relu(x)\n\
               e = to(b, i64)\nf = sum(x)\nh = floor(x)\noutput a, b, c, d, e, f, h\n";
    let out = run(src, &[x]).unwrap();
    let dtypes: Vec<DType> = out.iter().map(|t| t.dtype).collect();
    use DType::*;
    assert_eq!(dtypes, [F32, F32, F32, I64, I64, I64, I64]);
    assert_eq!(out[1].to_f64(), [7.5, -6.5, 2.5]);
    // Truncation toward zero: -6.5 -> -6.
    assert_eq!(out[4].to_i64().unwrap(), [7, -6, 2]);
    assert_eq!(out[5].to_i64().unwrap(), [2]);
    let nan = Tensor::from_f64(F32, &[3], &[f64::NAN, f64::INFINITY, -2.9]);
    let out = run(
        "graph g\ninput x: f32[3]\na = to(x, i64)\noutput a\n",
        &[nan],
    )
    .unwrap();
    assert_eq!(out[0].to_i64().unwrap(), [i64::MIN, i64::MIN, -2]);
}

#[test]
fn index_ops_refuse_what_torch_refuses_with_typed_errors() {
    let b = Tensor::from_f64(DType::Bool, &[3], &[0.0, 1.0, 1.0]);
    let msg = err("graph g\ninput x: bool[3]\na = argmax(x)\noutput a\n", &[b]);
    assert!(msg.contains("does not support bool input"), "{msg}");
    let x = Tensor::from_f64(DType::F32, &[2, 3], &[0.0; 6]);
    let msg = err(
        "graph g\ninput x: f32[2, 3]\na = argmax(x, 2)\noutput a\n",
        &[x],
    );
    assert!(msg.contains("dim 2 is out of range"), "{msg}");
    let e = Tensor::from_f64(DType::F32, &[0, 3], &[]);
    let msg = err(
        "graph g\ninput x: f32[0, 3]\na = argmin(x, 0)\noutput a\n",
        std::slice::from_ref(&e),
    );
    assert!(
        msg.contains("reduction dim 0 to have non-zero size"),
        "{msg}"
    );
    let msg = err(
        "graph g\ninput x: f32[0, 3]\na = argmax(x)\noutput a\n",
        std::slice::from_ref(&e),
    );
    assert!(
        msg.contains("expected reduction dim to be specified"),
        "{msg}"
    );
    // Along the non-empty dim the result is empty, as in torch.
    let out = run(
        "graph g\ninput x: f32[0, 3]\na = argmax(x, 1)\noutput a\n",
        &[e],
    )
    .unwrap();
    assert_eq!(out[0].shape, [0]);
    let i = Tensor::from_i64(&[2], &[1, 2]);
    let msg = err(
        "graph g\ninput x: i64[2]\na = mean(x)\noutput a\n",
        std::slice::from_ref(&i),
    );
    assert!(msg.contains("mean of a i64 tensor"), "{msg}");
    let msg = err(
        "graph g\ninput x: i64[2]\na = silu(x)\noutput a\n",
        std::slice::from_ref(&i),
    );
    assert!(msg.contains("silu of an integer tensor"), "{msg}");
    let msg = err(
        "graph g\ninput x: i64[2]\na = softmax(x, 0)\noutput a\n",
        &[i],
    );
    assert!(msg.contains("needs a float input"), "{msg}");
    let msg = parse("graph g\ninput x: f32[2]\nv = max(x, 0)\noutput v\n").unwrap_err();
    assert!(
        msg.to_string()
            .contains("returns values and indices (2 values)"),
        "{msg}"
    );
}

#[test]
fn cumsum_accumulates_along_the_dim_and_propagates_nan() {
    let x = Tensor::from_f64(DType::F64, &[2, 3], &[1.0, f64::NAN, 2.0, 3.0, 4.0, 5.0]);
    let i = Tensor::from_i64(&[3], &[1 << 50, 1, -2]);
    let src = "graph g\ninput x: f64[2, 3]\ninput i: i64[3]\na = cumsum(x, 1)\nb = cumsum(x, 0)\n\
               c = cumsum(i, 0)\noutput a, b, c\n";
    let out = run(src, &[x, i]).unwrap();
    let a = out[0].to_f64();
    assert_eq!((a[0], a[3], a[4], a[5]), (1.0, 3.0, 7.0, 12.0));
    assert!(a[1].is_nan() && a[2].is_nan());
    let b = out[1].to_f64();
    assert_eq!((b[3], b[5]), (4.0, 7.0));
    assert!(b[4].is_nan());
    assert_eq!(
        out[2].to_i64().unwrap(),
        [1 << 50, (1 << 50) + 1, (1 << 50) - 1]
    );
}
