//! The index family's lowering: `argmax`/`argmin` as an index-tracking reduction
//! ([`ReduceKind::ArgMax`]/[`ReduceKind::ArgMin`]) over the reduced dim, or over every dim
//! in row-major order for a flattened `dim=None` (the flat position over the reduction dims
//! is then the flattened index).
use kiln_ir::NodeId;
use kiln_shape::Expr;

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
