//! Reductions and pooling as reduction loops over windows.
//!
//! `sum/mean/amax/amin` reduce over the chosen dims; pooling reduces over a window of the input
//! whose start depends on the output position: `ih = oh*stride - pad + kh*dilation`. Window
//! elements outside the input (padding, or past the end under `ceil_mode`) are skipped through
//! the reduction's `valid` conditions; `avg_pool2d` divides by PyTorch's divisor afterwards.
//! Adaptive pooling has windows `[floor(o*L/out), ceil((o+1)*L/out))` whose sizes may differ:
//! the loop runs to the largest window and masks the rest. Pooling is over the last two dims;
//! the leading dims (`N, C`, or `C` for an unbatched input) index planes one to one. Its input sizes were specialised
//! during shape inference (the seed's static-bounds guard), so those windows are constants.
use kiln_ir::{DType, NodeId, NodeKind, Op, Pool2d, ReduceOp};
use kiln_shape::{Cond, Expr};

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::lower::{Lowerer, Post, norm_dim, numel};

fn o(i: usize) -> Expr {
    Expr::sym(&outer_var(i))
}
fn r(i: usize) -> Expr {
    Expr::sym(&reduce_var(i))
}

/// The reduction loop computing node `n` at the kernel index `%o0..`, and how its result is
/// finished (mean and avg pooling divide).
pub(crate) fn reduction_of(l: &mut Lowerer, n: NodeId) -> Result<(Reduction, Post), SchedError> {
    let NodeKind::Op(op) = l.g.node(n).kind.clone() else {
        unreachable!("only ops reduce")
    };
    match op {
        Op::Reduce {
            op,
            x,
            dims,
            keepdim,
        } => reduce(l, op, x, &dims, keepdim),
        Op::MaxPool2d { x, params } => pool(l, n, x, &params, ReduceKind::Max),
        Op::AvgPool2d { x, params } => pool(l, n, x, &params, ReduceKind::Sum),
        Op::AdaptiveAvgPool2d { x, output_size } => adaptive(l, n, x, output_size, ReduceKind::Sum),
        Op::AdaptiveMaxPool2d { x, output_size } => adaptive(l, n, x, output_size, ReduceKind::Max),
        Op::ArgMax { x, dim, keepdim } => {
            crate::lower::index::arg_reduction(l, x, dim, keepdim, ReduceKind::ArgMax)
        }
        Op::ArgMin { x, dim, keepdim } => {
            crate::lower::index::arg_reduction(l, x, dim, keepdim, ReduceKind::ArgMin)
        }
        Op::CumSum { x, dim } => crate::lower::index::cumsum_reduction(l, x, dim),
        Op::SumTo { x, .. } => l.sum_to_reduction(n, x),
        _ => unreachable!("not a reduction"),
    }
}

fn finish(
    l: &mut Lowerer,
    x: NodeId,
    xi: &[Expr],
    dims: Vec<Expr>,
    kind: ReduceKind,
    valid: Vec<Cond>,
) -> Result<Reduction, SchedError> {
    // A bool sum is an i64 count: accumulate in f64, exact to 2^53.
    let acc = match l.dtype(x) {
        DType::Bool => DType::F64,
        d => d.compute(),
    };
    let mut blk = Block::default();
    let v = l.emit(&mut blk, x, xi, None)?;
    let value = blk.cast(v, acc);
    Ok(Reduction {
        dims,
        kind,
        valid,
        body: blk.instrs,
        value,
        acc,
    })
}

fn reduce(
    l: &mut Lowerer,
    op: ReduceOp,
    x: NodeId,
    dims: &[i64],
    keepdim: bool,
) -> Result<(Reduction, Post), SchedError> {
    let xs = l.shape(x).to_vec();
    let rank = xs.len();
    let reduced: Vec<usize> = if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.iter().map(|&d| norm_dim(d, rank)).collect()
    };
    let (mut xi, mut rdims, mut oi) = (vec![], vec![], 0);
    for (i, d) in xs.iter().enumerate() {
        if reduced.contains(&i) {
            xi.push(r(rdims.len()));
            rdims.push(d.clone());
            oi += keepdim as usize;
        } else {
            xi.push(o(oi));
            oi += 1;
        }
    }
    let kind = match op {
        ReduceOp::Sum | ReduceOp::Mean => ReduceKind::Sum,
        ReduceOp::Amax => ReduceKind::Max,
        ReduceOp::Amin => ReduceKind::Min,
    };
    let post = if op == ReduceOp::Mean {
        Post::DivBy(numel(&rdims))
    } else {
        Post::None
    };
    Ok((finish(l, x, &xi, rdims, kind, vec![])?, post))
}

/// The pooled input's shape, the index of its first pooled dim (`H`), and the kernel index of
/// each leading dim (the output keeps them as they are).
fn pooled_input(l: &Lowerer, x: NodeId) -> (Vec<Expr>, usize, Vec<Expr>) {
    let xs = l.shape(x).to_vec();
    let h = xs.len() - 2;
    (xs, h, (0..h).map(o).collect())
}

fn pool(
    l: &mut Lowerer,
    _n: NodeId,
    x: NodeId,
    p: &Pool2d,
    kind: ReduceKind,
) -> Result<(Reduction, Post), SchedError> {
    let (xs, h, mut xi) = pooled_input(l, x);
    let mut valid = vec![];
    let mut divisor = [Expr::int(1), Expr::int(1)];
    let mut clipped = [Expr::int(1), Expr::int(1)];
    for a in 0..2 {
        let len = &xs[h + a];
        let (k, s, pad, d) = (p.kernel_size[a], p.stride[a], p.padding[a], p.dilation[a]);
        let start = &(&o(h + a) * &Expr::int(s)) - &Expr::int(pad);
        let i = &start + &(&r(a) * &Expr::int(d));
        if pad > 0 {
            valid.push(Cond::ge(i.clone(), Expr::int(0)));
        }
        if pad > 0 || p.ceil_mode {
            valid.push(Cond::lt(i.clone(), len.clone()));
        }
        xi.push(i);
        // PyTorch's avg_pool2d divisor: the window clipped to the padded input, and (without
        // count_include_pad) clipped again to the input itself.
        let end = Expr::min(&(&start + &Expr::int(k)), &(len + &Expr::int(pad)));
        divisor[a] = &end - &start;
        clipped[a] = &Expr::min(&end, len) - &Expr::max(&start, &Expr::int(0));
    }
    let red = finish(
        l,
        x,
        &xi,
        vec![Expr::int(p.kernel_size[0]), Expr::int(p.kernel_size[1])],
        kind,
        valid,
    )?;
    let post = match kind {
        ReduceKind::Sum if let Some(d) = p.divisor_override => Post::DivBy(Expr::int(d)),
        ReduceKind::Sum if p.count_include_pad => Post::DivBy(&divisor[0] * &divisor[1]),
        ReduceKind::Sum => Post::DivBy(&clipped[0] * &clipped[1]),
        _ => Post::None,
    };
    Ok((red, post))
}

fn adaptive(
    l: &mut Lowerer,
    n: NodeId,
    x: NodeId,
    out: [i64; 2],
    kind: ReduceKind,
) -> Result<(Reduction, Post), SchedError> {
    let (xs, h, mut xi) = pooled_input(l, x);
    let (mut valid, mut rdims) = (vec![], vec![]);
    let mut count = Expr::int(1);
    for a in 0..2 {
        // Shape inference specialised H and W (the guard is already recorded), so this only
        // reads the value the guard fixed.
        let node = l.g.node(n).name.clone();
        let len = l
            .env
            .specialize(&xs[h + a])
            .map_err(|source| SchedError::Shape { node, source })?;
        let ol = out[a];
        let oa = o(h + a);
        let start = (&oa * &Expr::int(len)).floor_div(&Expr::int(ol));
        let end = (&(&oa + &Expr::int(1)) * &Expr::int(len)).ceil_div(&Expr::int(ol));
        let sizes: Vec<i64> = (0..ol)
            .map(|i| ((i + 1) * len + ol - 1) / ol - (i * len) / ol)
            .collect();
        let widest = sizes.iter().copied().max().unwrap_or(1);
        if sizes.iter().any(|&s| s != widest) {
            valid.push(Cond::lt(r(a), &end - &start));
        }
        xi.push(&start + &r(a));
        rdims.push(Expr::int(widest));
        count = &count * &(&end - &start);
    }
    let red = finish(l, x, &xi, rdims, kind, valid)?;
    let post = if kind == ReduceKind::Sum {
        Post::DivBy(count)
    } else {
        Post::None
    };
    Ok((red, post))
}

/// The compute type of a reduction over values of `dtype`.
pub(crate) fn acc_of(dtype: DType) -> DType {
    dtype.compute()
}
