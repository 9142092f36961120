//! Kernel IR to CLIF: one function per [`Kernel`].
//!
//! See `doc/CODEGEN.md` for the loop structure, the SIMD rules and the dtype handling.
mod arg_reduce;
mod body;
mod emitter;
mod error;
mod index;
mod kernel;
mod mathops;
mod memory;
mod ops;
mod plan;
mod pool;
mod reduce;
mod row;
mod row_reduce;
mod tile;

use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName, types};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_sched::{Kernel, Program};

use crate::error::CpuError;

pub use error::{CodegenError, MemAccess};
pub(crate) use tile::routine_func_index;

/// `extern "C" fn(bufs: *const *mut u8, syms: *const i64, start: i64, end: i64)`.
pub(crate) fn kernel_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// `extern "C" fn(src: *const f32, dst: *mut f32, n: u64)`: a wide tile routine.
pub(crate) fn routine_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(types::I64); 3]);
    sig
}

/// The CLIF function computing `kernel` of `program`.
pub(crate) fn build_function(
    program: &Program,
    kernel: &Kernel,
    index: u32,
    call_conv: CallConv,
    frontend: TargetFrontendConfig,
) -> Result<Function, CpuError> {
    let mut func =
        Function::with_name_signature(UserFuncName::user(0, index), kernel_signature(call_conv));
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let mut emitter = emitter::KernelEmitter::new(&mut b, program);
    emitter.emit(kernel).map_err(|source| CpuError::Codegen {
        kernel: kernel.name.clone(),
        source,
    })?;
    b.seal_all_blocks();
    b.finalize(frontend);
    Ok(func)
}
