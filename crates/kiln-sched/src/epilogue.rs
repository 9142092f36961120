//! Which kernels can run as the epilogue of the convolution or GEMM before them.
//!
//! A convolution's bias, batch-norm affine, activation and residual add, and a linear layer's
//! bias and activation, are a kernel right after the library call that reads each output
//! element once: run separately, it streams the whole output back from memory (MobileNetV2 at
//! batch 8: 40% of an inference in such passes). When that kernel reads the call's output only
//! at its own point, the backend may run it on each part of the output as soon as that part is
//! computed, while it is in cache. The rules here make that reordering invisible:
//!
//! - the kernel has no reduction, and every load of the output buffer is at the point itself
//!   (the contiguous offset of its iteration space), so a range of points needs exactly the
//!   same range of the output;
//! - it stores to none of the call's operands nor its output (its other reads are of buffers
//!   the call does not write);
//! - a GEMM must not read its old output (`beta == 0`, as every GEMM kiln-sched lowers).
//!
//! The backend also checks, at launch, that the kernel's iteration space has as many points as
//! the output (and, for a GEMM, that the output is contiguous from offset 0), and runs the two
//! steps apart otherwise. Temporaries of both steps are live during both (see
//! [`Program::temp_lifetimes_with`]).
use crate::ir::{Kernel, LibraryCall, Program, Step, outer_var};
use crate::lower::contiguous_offset;
use kiln_shape::Expr;

impl Program {
    /// The kernel of step `at + 1`, when it can run as the epilogue of the convolution or
    /// GEMM at step `at` (see the module docs).
    pub fn library_epilogue(&self, at: usize) -> Option<usize> {
        let Some(Step::Library(call)) = self.steps.get(at) else {
            return None;
        };
        let (out, operands) = match &**call {
            LibraryCall::Conv(conv) => (conv.out, [conv.x, conv.w]),
            LibraryCall::Gemm(g) if g.beta == 0.0 => (g.c.buf, [g.a.buf, g.b.buf]),
            _ => return None,
        };
        let Some(Step::Kernel(k)) = self.steps.get(at + 1) else {
            return None;
        };
        let kernel = self.kernels.get(*k)?;
        let point = point_offset(kernel);
        let mut reads_output = false;
        for (buf, offset) in kernel.loads() {
            if buf == out {
                if *offset != point {
                    return None;
                }
                reads_output = true;
            }
        }
        let clobbers = kernel
            .stores
            .iter()
            .any(|s| s.buf == out || operands.contains(&s.buf));
        (kernel.reduce.is_none() && reads_output && !clobbers).then_some(*k)
    }
}

/// The offset of a kernel's point in a contiguous buffer of its iteration space.
fn point_offset(kernel: &Kernel) -> Expr {
    let idx: Vec<Expr> = (0..kernel.dims.len())
        .map(|i| Expr::sym(&outer_var(i)))
        .collect();
    contiguous_offset(&kernel.dims, &idx)
}
