//! Elementwise ops, dtypes, broadcasting and vector tails against the interpreter.
mod common;

use common::*;
use kiln_ir::{BinaryOp, DType, UnaryOp};

#[test]
fn fused_chain_f32() {
    let x = tensor(DType::F32, &[3, 37], 1, -3.0, 3.0);
    let y = tensor(DType::F32, &[3, 37], 2, -3.0, 3.0);
    let z = tensor(DType::F32, &[3, 37], 3, -3.0, 3.0);
    check(
        "graph g\ninput x: f32[N, M]\ninput y: f32[N, M]\ninput z: f32[N, M]\n\
         a = mul(x, y)\nb = add(a, z)\nc = relu(b)\nd = sigmoid(c)\ne = mul(d, 2.0)\nf = sub(e, 1.0)\noutput f",
        &[x, y, z],
    );
}
