//! The bridge to the inline math emitters of [`crate::math`]: their errors become codegen
//! messages. Half-precision bit patterns travel in 32-bit integer lanes (`I32` / `I32X4`).
use cranelift_codegen::ir::Value;
use cranelift_frontend::FunctionBuilder;

use super::error::CodegenError;
use crate::math::MathError;

fn err(e: MathError) -> CodegenError {
    CodegenError::Math(e)
}

pub(crate) fn exp(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::exp(b, x).map_err(err)
}
pub(crate) fn log(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::log(b, x).map_err(err)
}
pub(crate) fn sin(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::sin(b, x).map_err(err)
}
pub(crate) fn cos(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::cos(b, x).map_err(err)
}
pub(crate) fn tanh(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::tanh(b, x).map_err(err)
}
pub(crate) fn sigmoid(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::sigmoid(b, x).map_err(err)
}
pub(crate) fn sigmoid_nonnegative(
    b: &mut FunctionBuilder,
    x: Value,
) -> Result<Value, CodegenError> {
    crate::math::sigmoid_nonnegative(b, x).map_err(err)
}
pub(crate) fn erf(b: &mut FunctionBuilder, x: Value) -> Result<Value, CodegenError> {
    crate::math::erf(b, x).map_err(err)
}
pub(crate) fn pow(b: &mut FunctionBuilder, x: Value, y: Value) -> Result<Value, CodegenError> {
    crate::math::pow(b, x, y).map_err(err)
}

/// f32 lanes to f16 bit patterns (round to nearest even), in 32-bit lanes.
pub(crate) fn f32_to_f16_bits(b: &mut FunctionBuilder, v: Value) -> Result<Value, CodegenError> {
    crate::math::f32_to_f16_bits(b, v).map_err(err)
}
/// f16 bit patterns in 32-bit lanes to exact f32 lanes.
pub(crate) fn f16_bits_to_f32(b: &mut FunctionBuilder, bits: Value) -> Result<Value, CodegenError> {
    crate::math::f16_bits_to_f32(b, bits).map_err(err)
}
/// f32 lanes to bf16 bit patterns (round to nearest even), in 32-bit lanes.
pub(crate) fn f32_to_bf16_bits(b: &mut FunctionBuilder, v: Value) -> Result<Value, CodegenError> {
    crate::math::f32_to_bf16_bits(b, v).map_err(err)
}
/// bf16 bit patterns in 32-bit lanes to exact f32 lanes.
pub(crate) fn bf16_bits_to_f32(
    b: &mut FunctionBuilder,
    bits: Value,
) -> Result<Value, CodegenError> {
    crate::math::bf16_bits_to_f32(b, bits).map_err(err)
}
