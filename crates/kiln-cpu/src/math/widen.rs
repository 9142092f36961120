//! Runs an f64 emitter on f32 lanes: promote, compute, demote (one final rounding).
//!
//! f32 `sin`, `cos` and `pow` use it: f64 arithmetic makes their range reduction and
//! `y * log(x)` exact enough that the only visible error is the final rounding to f32.

use cranelift_codegen::ir::{ConstantData, InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::lanes::{Lanes, bitcast};

/// Applies `f64_op` (written for F64 / F64X2 lanes) to f32 or f64 arguments of shape `l`.
pub(crate) fn via_f64(
    b: &mut FunctionBuilder,
    l: Lanes,
    args: &[Value],
    f64_op: &dyn Fn(&mut FunctionBuilder, Lanes, &[Value]) -> Value,
) -> Value {
    if l == Lanes::F32 {
        let wide: Vec<Value> = args
            .iter()
            .map(|&a| b.ins().fpromote(types::F64, a))
            .collect();
        let r = f64_op(b, Lanes::F64, &wide);
        b.ins().fdemote(types::F32, r)
    } else if l == Lanes::F32X4 {
        let low: Vec<Value> = args.iter().map(|&a| b.ins().fvpromote_low(a)).collect();
        let high: Vec<Value> = args
            .iter()
            .map(|&a| {
                let moved = high_half_to_low(b, a);
                b.ins().fvpromote_low(moved)
            })
            .collect();
        let r_low = f64_op(b, Lanes::F64X2, &low);
        let r_high = f64_op(b, Lanes::F64X2, &high);
        let d_low = b.ins().fvdemote(r_low);
        let d_high = b.ins().fvdemote(r_high);
        // Bytes 0..8 of each demoted vector hold its two f32 results.
        let bytes: Vec<u8> = (0..8).chain(16..24).collect();
        shuffle_bytes(b, d_low, d_high, bytes)
    } else {
        f64_op(b, l, args)
    }
}

/// Moves f32 lanes 2 and 3 of `a` into lanes 0 and 1.
fn high_half_to_low(b: &mut FunctionBuilder, a: Value) -> Value {
    let bytes: Vec<u8> = (8..16).chain(8..16).collect();
    shuffle_bytes(b, a, a, bytes)
}

/// Byte shuffle of two F32X4 values (`shuffle` works on I8X16).
fn shuffle_bytes(b: &mut FunctionBuilder, x: Value, y: Value, bytes: Vec<u8>) -> Value {
    let mask = b.func.dfg.immediates.push(ConstantData::from(bytes));
    let xb = bitcast(b, types::I8X16, x);
    let yb = bitcast(b, types::I8X16, y);
    let shuffled = b.ins().shuffle(xb, yb, mask);
    bitcast(b, types::F32X4, shuffled)
}
