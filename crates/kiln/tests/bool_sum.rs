//! `sum` of a bool tensor counts its true elements as int64, as `torch.sum` does (loss
//! functions count their non-ignored targets this way).
use kiln::{CompileOptions, Compiler, DType, Tensor};

#[test]
fn sum_of_a_mask_is_an_i64_count() {
    let g = kiln::parse(
        "graph count\ninput x: f32[N, 3]\nm = gt(x, 0.0)\nall = sum(m)\nrows = sum(m, dim=1)\n\
         output all, rows\n",
    )
    .unwrap();
    let x = Tensor::from_f32(&[2, 3], &[1.0, -1.0, 2.0, 0.0, 3.0, 4.0]);
    let want = kiln_ir::interpret(&g, std::slice::from_ref(&x)).unwrap();
    assert_eq!(want[0].dtype, DType::I64);
    assert_eq!(want[0].to_f64(), vec![4.0]);
    assert_eq!(want[1].to_f64(), vec![2.0, 2.0]);
    let f = Compiler::new(CompileOptions::default())
        .compile(&g)
        .unwrap();
    let got = f.run(&[&x]).unwrap();
    assert_eq!(got, want);
}
