//! The index family's lowering: `argmax`/`argmin` as an index-tracking reduction
//! ([`ReduceKind::ArgMax`]/[`ReduceKind::ArgMin`]) over the reduced dim, or over every dim
//! in row-major order for a flattened `dim=None` (the flat position over the reduction dims
//! is then the flattened index). `cumsum` is a sum over `r <= i` along its dim: a reduction
//! whose window condition bounds the loop (quadratic in the dim's size, no new kernel IR).
use kiln_ir::NodeId;
use kiln_shape::{Cond, Expr};

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::lower::{Lowerer, Post, norm_dim};

/// The reduction computing `argmax`/`argmin(x, dim, keepdim)` at the kernel index `%o0..`.
pub(crate) fn arg_reduction(
    l: &mut Lowerer,
    x: NodeId,
    dim: Option<i64>,
    keepdim: bool,
    kind: ReduceKind,
) -> Result<(Reduction, Post), SchedError> {
    let xs = l.shape(x).to_vec();
    let rank = xs.len();
    let reduced: Vec<usize> = match dim {
        None => (0..rank).collect(),
        // A 0-d input has one element, at index 0.
        Some(_) if rank == 0 => Vec::new(),
        Some(d) => vec![norm_dim(d, rank)],
    };
    let (mut xi, mut rdims, mut oi) = (vec![], vec![], 0);
    for (i, d) in xs.iter().enumerate() {
        if reduced.contains(&i) {
            xi.push(Expr::sym(&reduce_var(rdims.len())));
            rdims.push(d.clone());
            oi += keepdim as usize;
        } else {
            xi.push(Expr::sym(&outer_var(oi)));
            oi += 1;
        }
    }
    let acc = l.dtype(x).compute();
    let mut blk = Block::default();
    let v = l.emit(&mut blk, x, &xi, None)?;
    let value = blk.cast(v, acc);
    let red = Reduction {
        dims: rdims,
        kind,
        valid: Vec::new(),
        body: blk.instrs,
        value,
        acc,
    };
    Ok((red, Post::None))
}

/// The reduction computing `cumsum(x, dim)` at the kernel index: element `i` of the dim sums
/// the input's elements `r` with `r <= i` (`valid`, which the backends turn into a loop bound).
pub(crate) fn cumsum_reduction(
    l: &mut Lowerer,
    x: NodeId,
    dim: i64,
) -> Result<(Reduction, Post), SchedError> {
    let xs = l.shape(x).to_vec();
    let mut xi: Vec<Expr> = (0..xs.len()).map(|i| Expr::sym(&outer_var(i))).collect();
    let (rdims, valid) = if xs.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let d = norm_dim(dim, xs.len());
        let r = Expr::sym(&reduce_var(0));
        let valid = vec![Cond::le(r.clone(), xi[d].clone())];
        xi[d] = r;
        (vec![xs[d].clone()], valid)
    };
    let acc = l.dtype(x).compute();
    let mut blk = Block::default();
    let v = l.emit(&mut blk, x, &xi, None)?;
    let value = blk.cast(v, acc);
    let red = Reduction {
        dims: rdims,
        kind: ReduceKind::Sum,
        valid,
        body: blk.instrs,
        value,
        acc,
    };
    Ok((red, Post::None))
}

mod gather;
