//! `Program::verify`: every program the scheduler makes passes, and each kind of damage is
//! reported as its own `VerifyError` variant.
use kiln_ir::DType;
use kiln_sched::{BufKind, Instr, Program, ReduceKind, ScalarOp, VerifyError};
use kiln_shape::Expr;

mod common;
use common::lower;

/// One kernel: `relu(x + y)`, loads b0 and b1, stores b2.
fn pointwise() -> Program {
    lower(
        "graph p\ninput x: f32[N, D]\ninput y: f32[N, D]\na = add(x, y)\nr = relu(a)\noutput r\n",
        &[&[4, 8], &[4, 8]],
    )
}

/// A kernel with a reduction (sum over the last dim).
fn reduction() -> Program {
    lower(
        "graph s\ninput x: f32[N, D]\ns = sum(x, dim=1)\noutput s\n",
        &[&[4, 8]],
    )
}

/// Softmax: temporaries written by early kernels, read by the last.
fn softmax() -> Program {
    lower(
        "graph sm\ninput x: f32[N, D]\ny = softmax(x, dim=1)\noutput y\n",
        &[&[4, 8]],
    )
}

fn err(p: &Program) -> VerifyError {
    p.verify().expect_err("damaged program refused")
}

#[test]
fn scheduled_programs_verify() {
    for p in [pointwise(), reduction(), softmax()] {
        p.verify().unwrap_or_else(|e| panic!("{e}\n{p}"));
    }
    assert!(softmax().buffers.iter().any(|b| b.kind == BufKind::Temp));
}

fn first_load(p: &mut Program) -> &mut ScalarOp {
    let k = &mut p.kernels[0];
    let i = k
        .body
        .iter()
        .position(|i| matches!(i.op, ScalarOp::Load { .. }));
    &mut k.body[i.expect("a load")].op
}

#[test]
fn undeclared_buffer() {
    let mut p = pointwise();
    if let ScalarOp::Load { buf, .. } = first_load(&mut p) {
        *buf = 99;
    }
    assert!(matches!(
        err(&p),
        VerifyError::UndeclaredBuffer { buf: 99, .. }
    ));
}

#[test]
fn store_to_an_input() {
    let mut p = pointwise();
    p.kernels[0].stores[0].buf = 0;
    let e = err(&p);
    assert!(
        matches!(
            e,
            VerifyError::StoreToReadOnly {
                buf: 0,
                kind: "an input",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn temporary_read_before_written() {
    let mut p = softmax();
    let last = p.kernels.pop().unwrap();
    p.kernels.insert(0, last);
    assert!(matches!(err(&p), VerifyError::ReadBeforeWrite { .. }));
}

#[test]
fn output_never_written() {
    let mut p = pointwise();
    p.kernels[0].stores.clear();
    let e = err(&p);
    assert!(
        matches!(&e, VerifyError::OutputNotWritten { output, .. } if output == "r"),
        "{e}"
    );
}

#[test]
fn interface_dtype_differs_from_the_buffer() {
    let mut p = pointwise();
    p.outputs[0].0.dtype = DType::F64;
    let e = err(&p);
    assert!(
        matches!(
            e,
            VerifyError::Interface {
                what: "output",
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    let mut p = pointwise();
    p.inputs.pop();
    assert!(matches!(
        err(&p),
        VerifyError::BufferKind {
            kind: "input",
            index: 1,
            ..
        }
    ));
}

#[test]
fn loop_variable_out_of_scope() {
    let mut p = pointwise();
    p.kernels[0].stores[0].offset = Expr::sym("%o7");
    let e = err(&p);
    assert!(
        matches!(&e, VerifyError::OutOfScope { symbol, .. } if symbol == "%o7"),
        "{e}"
    );
    let mut p = pointwise();
    p.kernels[0].dims[0] = Expr::sym("%o0");
    assert!(matches!(err(&p), VerifyError::OutOfScope { .. }));
    // `%o01` is not `%o1`: loop variables are written without leading zeros.
    let mut p = pointwise();
    p.kernels[0].stores[0].offset = Expr::sym("%o01");
    assert!(matches!(err(&p), VerifyError::OutOfScope { .. }));
    // A reduction variable outside the reduction loop nest.
    let mut p = reduction();
    p.kernels[0].stores[0].offset = Expr::sym("%r0");
    assert!(matches!(err(&p), VerifyError::OutOfScope { .. }));
}

#[test]
fn unknown_symbol() {
    let mut p = pointwise();
    if let ScalarOp::Load { offset, .. } = first_load(&mut p) {
        *offset = Expr::sym("Q");
    }
    let e = err(&p);
    assert!(
        matches!(&e, VerifyError::OutOfScope { symbol, .. } if symbol == "Q"),
        "{e}"
    );
}

#[test]
fn value_used_before_it_is_defined() {
    let mut p = pointwise();
    let body = &mut p.kernels[0].body;
    let at = body.len();
    body.push(Instr {
        op: ScalarOp::Binary(kiln_ir::BinaryOp::Add, 0, at as u32),
        dtype: DType::F32,
    });
    let e = err(&p);
    assert!(
        matches!(e, VerifyError::UseBeforeDef { operand, .. } if operand == at as u32),
        "{e}"
    );
}

#[test]
fn dtypes_disagree() {
    let mut p = pointwise();
    let k = &mut p.kernels[0];
    let i = k
        .body
        .iter()
        .position(|i| matches!(i.op, ScalarOp::Load { .. }));
    k.body[i.unwrap()].dtype = DType::F64;
    let e = err(&p);
    assert!(
        matches!(
            e,
            VerifyError::Dtype {
                what: "the load",
                ..
            }
        ),
        "{e}"
    );
    let mut p = pointwise();
    p.kernels[0].body.push(Instr {
        op: ScalarOp::Binary(kiln_ir::BinaryOp::Lt, 0, 1),
        dtype: DType::F32,
    });
    let e = err(&p);
    assert!(
        matches!(
            e,
            VerifyError::Dtype {
                what: "a comparison",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn reduced_outside_a_reduction_kernel() {
    let mut p = pointwise();
    p.kernels[0].body.push(Instr {
        op: ScalarOp::Reduced,
        dtype: DType::F32,
    });
    assert!(matches!(err(&p), VerifyError::MisplacedReduced { .. }));
}

#[test]
fn malformed_reductions() {
    // A reduction with no dims is well formed: it reduces one element (`sum` of a 0-d tensor).
    let damage: [fn(&mut kiln_sched::Reduction); 2] = [|r| r.acc = DType::F16, |r| r.value = 99];
    for d in damage {
        let mut p = reduction();
        let r = p.kernels[0].reduce.as_mut().expect("a reduction");
        assert_eq!(r.kind, ReduceKind::Sum);
        d(r);
        let e = err(&p);
        assert!(matches!(e, VerifyError::Reduction { .. }), "{e}");
    }
}

#[test]
fn store_of_a_missing_value() {
    let mut p = pointwise();
    p.kernels[0].stores[0].value = 99;
    assert!(matches!(err(&p), VerifyError::StoreValue { value: 99, .. }));
}

#[test]
fn index_width() {
    let mut p = pointwise();
    p.kernels[0].index_bits = 16;
    assert!(matches!(err(&p), VerifyError::IndexBits { bits: 16, .. }));
}
