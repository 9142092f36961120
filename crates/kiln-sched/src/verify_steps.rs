//! The launch-order half of [`Program::verify`]: steps name each kernel once, in order, and
//! library calls read declared, written buffers of their own dtype and write an output or a
//! temporary. The per-call rules (shapes, strides) are the access check's (`access.rs`): they
//! depend on symbol values.
use crate::ir::*;
use crate::verify::{Scope, VerifyError};

impl Program {
    /// The kernel a `Step::Kernel(i)` names, which must be the next one in order.
    pub(crate) fn step_kernel(&self, i: usize, expected: usize) -> Result<&Kernel, VerifyError> {
        if i != expected {
            return Err(VerifyError::Steps {
                problem: format!("step launches kernel {i} where kernel {expected} comes next"),
            });
        }
        self.kernels.get(i).ok_or_else(|| VerifyError::Steps {
            problem: format!("kernel {i} does not exist ({} kernels)", self.kernels.len()),
        })
    }

    pub(crate) fn verify_library(
        &self,
        call: &LibraryCall,
        symbols: &[String],
        written: &[bool],
    ) -> Result<(), VerifyError> {
        let fail = |problem: String| VerifyError::Library {
            call: call.name().to_string(),
            problem,
        };
        for (buf, dtype) in call.buffer_dtypes() {
            let decl = self
                .buffers
                .get(buf as usize)
                .ok_or_else(|| fail(format!("buffer b{buf} is not declared")))?;
            if decl.dtype != dtype {
                return Err(fail(format!(
                    "b{buf} is {}, the call is {dtype}",
                    decl.dtype
                )));
            }
        }
        for buf in call.reads() {
            let decl = &self.buffers[buf as usize];
            if decl.kind == BufKind::Temp && !written[buf as usize] {
                return Err(fail(format!("reads temporary b{buf} before it is written")));
            }
        }
        let out = call.writes();
        match self.buffers[out as usize].kind {
            BufKind::Output(_) | BufKind::Temp => {}
            _ => {
                return Err(fail(format!(
                    "writes b{out}, which is not an output or temporary"
                )));
            }
        }
        let scope = Scope::new(symbols, 0, 0);
        for e in call_exprs(call) {
            scope.check(e, || format!("library call `{}`", call.name()))?;
        }
        Ok(())
    }
}

/// Every size, offset and stride expression of a call.
fn call_exprs(call: &LibraryCall) -> Vec<&kiln_shape::Expr> {
    match call {
        LibraryCall::Gemm(g) => {
            let mut v: Vec<&kiln_shape::Expr> = vec![&g.m, &g.n, &g.k];
            v.extend(&g.batch);
            for r in [&g.a, &g.b, &g.c] {
                v.extend([&r.offset, &r.row_stride, &r.col_stride]);
                v.extend(&r.batch_strides);
            }
            v
        }
        LibraryCall::Conv(c) => conv_exprs(c),
        LibraryCall::ConvGrad(g) => conv_exprs(&g.conv),
        LibraryCall::PoolBackward(p) => [&p.planes]
            .into_iter()
            .chain(&p.in_hw)
            .chain(&p.out_hw)
            .collect(),
        LibraryCall::Index(c) => c.exprs(),
        LibraryCall::PoolIndices(c) => c.exprs(),
    }
}

fn conv_exprs(c: &Conv) -> Vec<&kiln_shape::Expr> {
    let mut v: Vec<&kiln_shape::Expr> = vec![&c.n, &c.c_in, &c.c_out];
    v.extend(&c.spatial);
    v.extend(&c.out_spatial);
    v
}
