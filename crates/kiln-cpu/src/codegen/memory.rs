//! Loads and stores of buffer elements, widening to and narrowing from the compute type.
//!
//! Buffers hold little-endian elements: f32, f64, f16/bf16 bit patterns, and bools as one
//! byte 0/1, i64 as two's complement. A load widens to the compute type (f16/bf16 exactly, bool to 0.0/1.0); a store
//! rounds to the buffer's precision (round to nearest even) or, for bools, writes `x != 0`;
//! i64 is loaded into an f64 and stored truncated toward zero (as `to(torch.int64)`).
//! Vector accesses move 4 f32-computed lanes or 2 f64 lanes; bool buffers are scalar-only.
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    Endianness, InstBuilder, InstructionData, MemFlagsData, Opcode, Type, Value, types,
};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::DType;

use super::error::{CodegenError, MemAccess};
use super::mathops;
use super::ops::{Width, bitcast, compute_type, convert, mask_to_float, truthy};

/// Buffers are `Vec<u8>`-backed, so no access is assumed aligned; none traps (the launcher
/// validated every size before running).
fn flags() -> MemFlagsData {
    MemFlagsData::new()
        .with_notrap()
        .with_endianness(Endianness::Little)
}

/// Where an element lives: `ptr + disp` bytes.
#[derive(Clone, Copy)]
pub(crate) struct Address {
    ptr: Value,
    disp: i32,
}

/// The address of element `offset` (i64) of a buffer of `dtype` at `base`.
///
/// Constant addends of `offset` (a window column, an unrolled position) become the access's
/// displacement: `base + x*size` is then shared by every access of the row and each load is
/// one instruction with an immediate offset, not an address computation plus a load.
pub(crate) fn address(
    b: &mut FunctionBuilder,
    dtype: DType,
    base: Value,
    offset: Value,
) -> Address {
    let size = dtype.size() as i64;
    let (index, constant) = split_constant(b, offset);
    let disp = constant
        .checked_mul(size)
        .and_then(|d| i32::try_from(d).ok());
    let (index, disp) = match disp {
        Some(d) => (index, d),
        None => (offset, 0),
    };
    let bytes = b.ins().imul_imm_s(index, size);
    Address {
        ptr: b.ins().iadd(base, bytes),
        disp,
    }
}

/// `offset` as `x + c` with `c` the sum of its constant addends (`iadd` trees of `iconst`s).
fn split_constant(b: &FunctionBuilder, offset: Value) -> (Value, i64) {
    let dfg = &b.func.dfg;
    let as_const = |v: Value| {
        let inst = dfg.value_def(v).inst()?;
        match dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    };
    let mut x = offset;
    let mut c: i64 = 0;
    // A few levels are enough for `rest + column + position`; each step is checked.
    for _ in 0..4 {
        let Some(inst) = dfg.value_def(x).inst() else {
            break;
        };
        let InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [l, r],
        } = dfg.insts[inst]
        else {
            break;
        };
        let (next, k) = match (as_const(l), as_const(r)) {
            (_, Some(k)) => (l, k),
            (Some(k), None) => (r, k),
            (None, None) => break,
        };
        let Some(sum) = c.checked_add(k) else {
            break;
        };
        x = next;
        c = sum;
    }
    (x, c)
}

/// Loads the element(s) at `addr`, widened to the compute type (at `width`).
pub(crate) fn load(
    b: &mut FunctionBuilder,
    dtype: DType,
    addr: Address,
    width: Width,
) -> Result<Value, CodegenError> {
    let vector = width == Width::Vector;
    let Address { ptr: addr, disp } = addr;
    let ty = compute_type(dtype, width);
    Ok(match dtype {
        DType::F32 | DType::F64 => b.ins().load(ty, flags(), addr, disp),
        DType::F16 | DType::BF16 => {
            let bits = if vector {
                b.ins().uload16x4(flags(), addr, disp)
            } else {
                b.ins().uload16(types::I32, flags(), addr, disp)
            };
            if dtype == DType::F16 {
                mathops::f16_bits_to_f32(b, bits)?
            } else {
                mathops::bf16_bits_to_f32(b, bits)?
            }
        }
        DType::Bool if !vector => {
            let byte = b.ins().uload8(types::I32, flags(), addr, disp);
            let set = b.ins().icmp_imm_s(IntCC::NotEqual, byte, 0);
            mask_to_float(b, ty, set)
        }
        DType::Bool => {
            return Err(CodegenError::VectorAccess {
                dtype,
                access: MemAccess::Load,
            });
        }
        // i64 is computed in f64: exact below 2^53 (CODEGEN.md, "dtypes").
        DType::I64 if !vector => {
            let int = b.ins().load(types::I64, flags(), addr, disp);
            b.ins().fcvt_from_sint(types::F64, int)
        }
        DType::I64 => {
            return Err(CodegenError::VectorAccess {
                dtype,
                access: MemAccess::Load,
            });
        }
    })
}

/// Stores `value` (any compute type) at `addr` as `dtype`.
pub(crate) fn store(
    b: &mut FunctionBuilder,
    dtype: DType,
    addr: Address,
    value: Value,
) -> Result<(), CodegenError> {
    let Address { ptr: addr, disp } = addr;
    let vector = b.func.dfg.value_type(value).is_vector();
    let width = if vector { Width::Vector } else { Width::Scalar };
    let ty: Type = compute_type(dtype, width);
    let v = convert(b, value, ty);
    match dtype {
        DType::F32 | DType::F64 => {
            b.ins().store(flags(), v, addr, disp);
        }
        DType::F16 | DType::BF16 => {
            let bits = if dtype == DType::F16 {
                mathops::f32_to_f16_bits(b, v)?
            } else {
                mathops::f32_to_bf16_bits(b, v)?
            };
            if vector {
                // Four 16-bit patterns in 32-bit lanes: narrow to the low 8 bytes of an
                // I16X8 and store those.
                let halves = b.ins().unarrow(bits, bits);
                let wide = bitcast(b, types::I64X2, halves);
                let low = b.ins().extractlane(wide, 0);
                b.ins().store(flags(), low, addr, disp);
            } else {
                b.ins().istore16(flags(), bits, addr, disp);
            }
        }
        DType::Bool if !vector => {
            let set = truthy(b, v);
            b.ins().store(flags(), set, addr, disp);
        }
        DType::Bool => {
            return Err(CodegenError::VectorAccess {
                dtype,
                access: MemAccess::Store,
            });
        }
        DType::I64 if !vector => {
            let int = super::ops::f64_to_i64_torch(b, v);
            b.ins().store(flags(), int, addr, disp);
        }
        DType::I64 => {
            return Err(CodegenError::VectorAccess {
                dtype,
                access: MemAccess::Store,
            });
        }
    }
    Ok(())
}
