//! The emission state shared by every emission module: the function builder, the index
//! emitter, the buffers' base pointers, and the per-row access forms of loads and stores.
//! Emission modules take a [`KernelEmitter`]; none of them imports the kernel driver.
use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::DType;
use kiln_sched::{BufId, Program};
use kiln_shape::Expr;

use super::error::CodegenError;
use super::index::IndexEmitter;
use super::plan::window::WindowPlan;

/// How an access's offset is computed at a point of the row.
#[derive(Clone)]
pub(crate) enum Access {
    /// `coeff * inner + rest`, both computed once per row.
    Linear {
        coeff: Value,
        coeff_const: Option<i64>,
        rest: Value,
    },
    /// The offset does not depend on the inner variable: loaded once per row (loads only).
    Hoisted(Value),
    /// Not linear in the inner variable (a reshape's div/mod): the whole expression per point.
    Full,
    /// The offset at this point is this value (a loop-carried induction variable).
    At(Value),
    /// A vector of outputs' window elements ([`super::pool`]): lane 0 at `along`'s offset, the
    /// other lanes `lane_stride` elements apart.
    Strided {
        along: Box<Access>,
        lane_stride: i64,
    },
}

/// A row's access plans: the body's loads (indexed like the body) and the stores.
pub(crate) struct RowAccesses {
    pub loads: Vec<Option<Access>>,
    pub stores: Vec<Option<Access>>,
}

pub(crate) struct KernelEmitter<'p, 'f, 'b> {
    pub b: &'b mut FunctionBuilder<'f>,
    pub program: &'p Program,
    pub idx: IndexEmitter,
    pub bases: HashMap<BufId, Value>,
    /// No buffer the kernel loads is one it stores to, so a point may be computed twice
    /// (kiln-sched gives every kernel fresh output buffers; checked, not assumed).
    pub loads_never_written: bool,
}

pub(crate) fn arg(v: Value) -> BlockArg {
    BlockArg::Value(v)
}

impl<'p, 'f, 'b> KernelEmitter<'p, 'f, 'b> {
    pub fn new(b: &'b mut FunctionBuilder<'f>, program: &'p Program) -> Self {
        KernelEmitter {
            b,
            program,
            idx: IndexEmitter::new(),
            bases: HashMap::new(),
            loads_never_written: false,
        }
    }

    pub fn buffer_dtype(&self, buf: BufId) -> Result<DType, CodegenError> {
        super::plan::buffer_dtype(self.program, buf)
    }

    pub fn base(&self, buf: BufId) -> Result<Value, CodegenError> {
        self.bases
            .get(&buf)
            .copied()
            .ok_or(CodegenError::BufferNotLoaded { buf })
    }

    /// `for (i = lo; i < hi; i += step) body(i)`; returns the first `i` not run (for a tail).
    pub fn counted_loop(
        &mut self,
        lo: Value,
        hi: Value,
        step: i64,
        body: &mut dyn FnMut(&mut Self, Value) -> Result<(), CodegenError>,
    ) -> Result<Value, CodegenError> {
        let head = self.b.create_block();
        let i = self.b.append_block_param(head, types::I64);
        let body_block = self.b.create_block();
        let exit = self.b.create_block();
        let done = self.b.append_block_param(exit, types::I64);
        self.b.ins().jump(head, &[arg(lo)]);
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, hi);
        self.b.ins().brif(more, body_block, &[], exit, &[arg(i)]);
        self.b.switch_to_block(body_block);
        body(self, i)?;
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.ins().jump(head, &[arg(next)]);
        self.b.switch_to_block(exit);
        Ok(done)
    }
}

impl WindowPlan {
    /// The bounds `[lo, hi)` of `level`'s loop, emitted where the loop starts (the outer
    /// reduction variables are bound). `hi` may be below `lo`: the loop then does not run.
    pub fn bounds(
        &self,
        e: &mut KernelEmitter,
        level: usize,
        dim: &Expr,
    ) -> Result<(Value, Value), CodegenError> {
        let (lo, hi) = self.bound_exprs(level, dim);
        Ok((e.idx.expr(e.b, &lo)?, e.idx.expr(e.b, &hi)?))
    }
}
