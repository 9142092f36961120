//! Softmax: its two row statistics, each a reduction kernel into a temporary buffer, and the
//! elementwise `exp(x - max) / sum` read at every element.
use kiln_ir::{BinaryOp, NodeId, UnaryOp};
use kiln_shape::Expr;

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::lower::{KernelCtx, Lowerer, contiguous_offset, norm_dim};
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
        let outer_kernel = l.emit_log.enter();
        let xv = l.emit(&mut rb, x, &xi, None);
        let _ = l.emit_log.leave(outer_kernel);
        let xv = xv?;
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

impl Lowerer<'_> {
    /// `softmax(x, dim) = exp(x - max) / sum(exp(x - max))`: the row max and the row sum are
    /// reductions read at every element of the row, so they are materialised (two temporaries).
    pub(crate) fn emit_softmax(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        x: NodeId,
        dim: i64,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let acc = self.dtype(n).compute();
        if shape.is_empty() {
            // A 0-d tensor is one row of length 1: exp(x - x) / exp(x - x), i.e. 1 (NaN for
            // a non-finite x, as PyTorch).
            let xv = self.emit(blk, x, idx, ctx)?;
            let xv = blk.cast(xv, acc);
            let e = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Sub, xv, xv), acc);
            let e = blk.push(ScalarOp::Unary(kiln_ir::UnaryOp::Exp, e), acc);
            let v = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Div, e, e), acc);
            return Ok(blk.cast(v, self.dtype(n)));
        }
        let d = norm_dim(dim, shape.len());
        let mut kept = shape.clone();
        kept[d] = Expr::int(1);
        let (mbuf, sbuf) = match self.softmax.get(&n) {
            Some(&p) => p,
            None => {
                let m = self.add_buffer(acc, &kept, BufKind::Temp);
                let s = self.add_buffer(acc, &kept, BufKind::Temp);
                lower_softmax_stats(self, x, d, &shape, &kept, m, s)?;
                self.softmax.insert(n, (m, s));
                (m, s)
            }
        };
        let mut row = idx.to_vec();
        row[d] = Expr::int(0);
        let xv = self.emit(blk, x, idx, ctx)?;
        let xv = blk.cast(xv, acc);
        let mv = self.load(blk, mbuf, &kept, &row);
        let sv = self.load(blk, sbuf, &kept, &row);
        let e = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Sub, xv, mv), acc);
        let e = blk.push(ScalarOp::Unary(kiln_ir::UnaryOp::Exp, e), acc);
        let v = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Div, e, sv), acc);
        Ok(blk.cast(v, self.dtype(n)))
    }
}
