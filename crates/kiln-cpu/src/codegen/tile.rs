//! Emission of a tiled row ([`plan::tile`]): stages of 128-bit code around calls to the wide
//! routines, with staged values in a stack scratch buffer.
use cranelift_codegen::ir::{
    ExtFuncData, ExternalName, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind,
    UserExternalName, Value, types,
};
use kiln_sched::{Kernel, ScalarOp};

use super::body::Values;
use super::emitter::{KernelEmitter, RowAccesses};
use super::error::CodegenError;
use super::ops::{self, Width, compute_type, fconst};
use super::plan::tile::{TILE, TilePlan};
use super::plan::vector_lanes;
use crate::math::wide::Routine;

/// Bytes of one staged value's slot: one f32 per column of the tile.
const SLOT_BYTES: i64 = TILE * 4;

/// The function index kernels import `routine` by: after the program's kernels, in
/// [`Routine::ALL`] order (the artifact declares them the same way).
pub(crate) fn routine_func_index(kernel_count: usize, routine: Routine) -> u32 {
    let position = Routine::ALL.iter().position(|r| *r == routine).unwrap_or(0);
    (kernel_count + position) as u32
}

impl KernelEmitter<'_, '_, '_> {
    /// The tiles of the row's columns `[col, col_end)` that fit whole; returns the first
    /// column left for the vector and scalar loops.
    pub(crate) fn tiled_columns(
        &mut self,
        k: &Kernel,
        inner: &str,
        tiles: &TilePlan,
        (col, col_end): (cranelift_codegen::ir::Value, cranelift_codegen::ir::Value),
        plans: &RowAccesses,
    ) -> Result<Value, CodegenError> {
        let bytes = u32::try_from(i64::from(tiles.slots) * SLOT_BYTES)
            .map_err(|_| CodegenError::TileScratch { slots: tiles.slots })?;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            bytes,
            5,
        ));
        let limit = self.b.ins().iadd_imm_s(col_end, -(TILE - 1));
        self.counted_loop(col, limit, TILE, &mut |s: &mut Self, i| {
            let scratch = s.b.ins().stack_addr(types::I64, slot, 0);
            s.emit_tile(k, inner, tiles, (i, scratch), plans)
        })
    }

    /// One tile at column `i`: every stage over the tile, each followed by its routine call.
    fn emit_tile(
        &mut self,
        k: &Kernel,
        inner: &str,
        tiles: &TilePlan,
        (i, scratch): (Value, Value),
        plans: &RowAccesses,
    ) -> Result<(), CodegenError> {
        let lanes = vector_lanes(kiln_ir::DType::F32);
        for stage in 0..=tiles.calls.len() {
            let zero = self.b.ins().iconst(types::I64, 0);
            let end = self.b.ins().iconst(types::I64, TILE);
            // Two vectors per iteration, as the untiled loop: two independent chains.
            self.counted_loop(zero, end, 2 * lanes, &mut |s: &mut Self, t| {
                s.emit_stage_point(k, inner, tiles, stage, (i, t, scratch), plans)?;
                let t2 = s.b.ins().iadd_imm_s(t, lanes);
                s.emit_stage_point(k, inner, tiles, stage, (i, t2, scratch), plans)
            })?;
            if let Some(&(n, routine)) = tiles.calls.get(stage) {
                self.call_routine(k, tiles, (n, routine), scratch)?;
            }
        }
        Ok(())
    }

    /// Stage `stage` of the vector at tile offset `t`: staged values it reads are loaded from
    /// their slots, constants re-emitted, its instructions emitted, the values it defines
    /// that later stages read stored; the last stage stores the kernel's outputs.
    fn emit_stage_point(
        &mut self,
        k: &Kernel,
        inner: &str,
        tiles: &TilePlan,
        stage: usize,
        (i, t, scratch): (Value, Value, Value),
        plans: &RowAccesses,
    ) -> Result<(), CodegenError> {
        let range = tiles.stage(stage, k.body.len());
        let pos = self.b.ins().iadd(i, t);
        self.idx.push();
        self.idx.bind(inner, pos);
        let mut vals: Values = vec![None; k.body.len()];
        for (n, instr) in k.body.iter().enumerate().take(range.start) {
            let ty = compute_type(instr.dtype, Width::Vector);
            vals[n] = match (&instr.op, tiles.slot(n)) {
                (ScalarOp::Const(c), _) => Some(fconst(self.b, ty, *c)),
                (_, Some(slot)) if tiles.stage_reads(k, stage, n) => {
                    let addr = slot_address(self, scratch, slot, t);
                    Some(self.b.ins().load(ty, flags(), addr, 0))
                }
                _ => None,
            };
        }
        let point = (pos, Width::Vector, None);
        self.emit_range(&k.body, Some(&plans.loads), point, &mut vals, range.clone())?;
        for n in range {
            if let (Some(slot), Some(v)) = (tiles.slot(n), vals[n]) {
                let ty = compute_type(k.body[n].dtype, Width::Vector);
                let v = ops::convert(self.b, v, ty);
                let addr = slot_address(self, scratch, slot, t);
                self.b.ins().store(flags(), v, addr, 0);
            }
        }
        if stage == tiles.calls.len() {
            self.store_values(k, pos, plans, &vals)?;
        }
        self.idx.pop();
        Ok(())
    }

    /// `routine(slot of its operand, slot of instruction n, TILE)`.
    fn call_routine(
        &mut self,
        k: &Kernel,
        tiles: &TilePlan,
        (n, routine): (usize, Routine),
        scratch: Value,
    ) -> Result<(), CodegenError> {
        let ScalarOp::Unary(_, a) = k.body[n].op else {
            return Err(CodegenError::UndefinedValue { id: n as u32 });
        };
        let unstaged = |id: usize| CodegenError::UndefinedValue { id: id as u32 };
        let src_slot = tiles.slot(a as usize).ok_or_else(|| unstaged(a as usize))?;
        let dst_slot = tiles.slot(n).ok_or_else(|| unstaged(n))?;
        let sig = super::routine_signature(self.b.func.signature.call_conv);
        let signature = self.b.import_signature(sig);
        let index = routine_func_index(self.program.kernels.len(), routine);
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName::new(0, index));
        let callee = self.b.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: false,
            patchable: false,
        });
        let src = self
            .b
            .ins()
            .iadd_imm_s(scratch, i64::from(src_slot) * SLOT_BYTES);
        let dst = self
            .b
            .ins()
            .iadd_imm_s(scratch, i64::from(dst_slot) * SLOT_BYTES);
        let count = self.b.ins().iconst(types::I64, TILE);
        self.b.ins().call(callee, &[src, dst, count]);
        Ok(())
    }
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_aligned()
}

/// The address of tile offset `t`'s vector in slot `slot`.
fn slot_address(e: &mut KernelEmitter, scratch: Value, slot: u32, t: Value) -> Value {
    let bytes = e.b.ins().imul_imm_s(t, 4);
    let base = e.b.ins().iadd_imm_s(scratch, i64::from(slot) * SLOT_BYTES);
    e.b.ins().iadd(base, bytes)
}
