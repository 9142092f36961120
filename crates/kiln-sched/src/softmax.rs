//! Softmax's two row statistics, each a reduction kernel into a temporary buffer.
use kiln_ir::{BinaryOp, NodeId, UnaryOp};
use kiln_shape::Expr;

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::lower::{Lowerer, contiguous_offset};
use crate::pool::acc_of;

/// Emits `m = amax(x, d, keepdim)` into `mbuf` and `s = sum(exp(x - m), d, keepdim)` into `sbuf`.
pub(crate) fn lower_softmax_stats(
    l: &mut Lowerer,
    x: NodeId,
    d: usize,
    shape: &[Expr],
    kept: &[Expr],
    mbuf: BufId,
    sbuf: BufId,
) -> Result<(), SchedError> {
    let acc = acc_of(l.dtype(x));
    let outer: Vec<Expr> = (0..kept.len()).map(|i| Expr::sym(&outer_var(i))).collect();
    let mut xi = outer.clone();
    xi[d] = Expr::sym(&reduce_var(0));
    for (buf, is_sum) in [(mbuf, false), (sbuf, true)] {
        let mut rb = Block::default();
        let xv = l.emit(&mut rb, x, &xi, None)?;
        let mut value = rb.cast(xv, acc);
        if is_sum {
            let m = rb.push(
                ScalarOp::Load {
                    buf: mbuf,
                    offset: contiguous_offset(kept, &outer),
                },
                acc,
            );
            let e = rb.push(ScalarOp::Binary(BinaryOp::Sub, value, m), acc);
            value = rb.push(ScalarOp::Unary(UnaryOp::Exp, e), acc);
        }
        let kind = if is_sum {
            ReduceKind::Sum
        } else {
            ReduceKind::Max
        };
        let reduce = Reduction {
            dims: vec![shape[d].clone()],
            kind,
            valid: vec![],
            body: rb.instrs,
            value,
            acc,
        };
        let mut body = Block::default();
        let v = body.push(ScalarOp::Reduced, acc);
        let name = format!(
            "k{}_softmax_{}",
            l.kernel_count(),
            if is_sum { "sum" } else { "max" }
        );
        let stores = vec![Store {
            buf,
            offset: contiguous_offset(kept, &outer),
            value: v,
        }];
        l.push_kernel(Kernel {
            name,
            dims: kept.to_vec(),
            reduce: Some(reduce),
            body: body.instrs,
            stores,
            index_bits: 64,
        })?;
    }
    Ok(())
}
