//! Normalisation (the nn family), decomposed into reductions and elementwise ops: biased
//! variance `mean((x - mean)^2)` and `(x - mean) * rsqrt(var + eps)`, as PyTorch computes them.
//! Size checks that PyTorch makes (normalized_shape against the trailing dims, channels
//! divisible by the groups, running statistics per channel) are `unflatten` and broadcasting
//! nodes named after what they check (`ln_normalized_shape`, `gn_groups`,
//! `bn_running_mean`), so shape inference reports them on that node, with the sizes.
use kiln_shape::Dim;

use super::known_rank;
use super::parts::{Parts, s, v};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};

/// `(u - mean) * rsqrt(var + eps)` over `dims` (kept as size-1 dims); returns the
/// normalised value, the mean and the biased variance.
fn normalise(
    p: &mut Parts,
    u: NodeId,
    dims: Vec<i64>,
    eps: f64,
) -> Result<(NodeId, NodeId, NodeId), IrError> {
    let mean = p.reduce(ReduceOp::Mean, u, dims.clone())?;
    let centred = p.binary(BinaryOp::Sub, v(u), v(mean))?;
    let sq = p.binary(BinaryOp::Mul, v(centred), v(centred))?;
    let var = p.reduce(ReduceOp::Mean, sq, dims)?;
    let shifted = p.binary(BinaryOp::Add, v(var), s(eps))?;
    let rstd = p.unary(UnaryOp::Rsqrt, shifted)?;
    let y = p.binary(BinaryOp::Mul, v(centred), v(rstd))?;
    Ok((y, mean, var))
}

/// `y * weight + bias` (either optional); the last op is the result when `last`.
fn affine(
    p: &mut Parts,
    mut y: NodeId,
    weight: Option<NodeId>,
    bias: Option<NodeId>,
    last: bool,
) -> Result<NodeId, IrError> {
    if let Some(w) = weight {
        let op = Op::Binary {
            op: BinaryOp::Mul,
            a: v(y),
            b: v(w),
        };
        y = if last && bias.is_none() {
            p.result(op)?
        } else {
            p.named("times_weight", op)?
        };
    }
    if let Some(b) = bias {
        let op = Op::Binary {
            op: BinaryOp::Add,
            a: v(y),
            b: v(b),
        };
        y = if last {
            p.result(op)?
        } else {
            p.named("plus_bias", op)?
        };
    }
    if last && weight.is_none() && bias.is_none() {
        // The result needs its own node under the composite's name.
        let dtype = crate::value_info(p.g, y)?.dtype;
        y = p.result(Op::Cast { x: y, dtype })?;
    }
    Ok(y)
}

fn sub(a: NodeId, b: NodeId) -> Op {
    Op::Binary {
        op: BinaryOp::Sub,
        a: v(a),
        b: v(b),
    }
}

fn add_eps(a: NodeId, eps: f64) -> Op {
    Op::Binary {
        op: BinaryOp::Add,
        a: v(a),
        b: s(eps),
    }
}

fn show(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// `layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05)`: statistics over
/// the last `len(normalized_shape)` dims, which must equal `normalized_shape` (checked by an
/// `unflatten` node `{name}_normalized_shape`).
pub fn layer_norm(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    normalized_shape: &[Dim],
    weight: Option<NodeId>,
    bias: Option<NodeId>,
    eps: f64,
) -> Result<NodeId, IrError> {
    let (_, rank) = known_rank(g, name, "layer_norm", x)?;
    let mut p = Parts::new(g, name, "layer_norm");
    p.require_float(x)?;
    let k = normalized_shape.len();
    if k == 0 || k > rank {
        return Err(p.invalid(format!(
            "Given normalized_shape={}, expected input with shape [*, {}], but got input of \
             rank {rank}",
            show(normalized_shape),
            show(normalized_shape).trim_matches(['[', ']'])
        )));
    }
    let lead = (rank - k) as i64;
    // One trailing dim is checked by unflatten alone; several are merged first, so the
    // product is checked (and the statistics see the merged dims as they are).
    let merged = if k == 1 {
        x
    } else {
        p.part(Op::Flatten {
            x,
            start_dim: lead,
            end_dim: -1,
        })?
    };
    let sizes = normalized_shape.to_vec();
    let u = p.named(
        "normalized_shape",
        Op::Unflatten {
            x: merged,
            dim: lead,
            sizes,
        },
    )?;
    let dims: Vec<i64> = (lead..rank as i64).collect();
    let (y, _, _) = normalise(&mut p, u, dims, eps)?;
    affine(&mut p, y, weight, bias, true)
}

/// `group_norm(input, num_groups, weight=None, bias=None, eps=1e-05)`: `(N, C, *)` is
/// viewed as `(N, G, C/G, *)` (the `unflatten` node `{name}_groups` checks divisibility),
/// normalised per group, and the per-channel `weight`/`bias` applied.
pub fn group_norm(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    num_groups: i64,
    weight: Option<NodeId>,
    bias: Option<NodeId>,
    eps: f64,
) -> Result<NodeId, IrError> {
    let (_, rank) = known_rank(g, name, "group_norm", x)?;
    let mut p = Parts::new(g, name, "group_norm");
    p.require_float(x)?;
    if rank < 2 {
        return Err(p.invalid(format!(
            "Expected at least 2 dimensions for input tensor but received {rank}"
        )));
    }
    if num_groups <= 0 {
        return Err(p.invalid(format!("num_groups must be positive, found {num_groups}")));
    }
    let sizes = vec![Dim::Fixed(num_groups), Dim::Fixed(-1)];
    let u = p.named("groups", Op::Unflatten { x, dim: 1, sizes })?;
    let dims: Vec<i64> = (2..=rank as i64).collect();
    let (y, _, _) = normalise(&mut p, u, dims, eps)?;
    let y = p.part(Op::Flatten {
        x: y,
        start_dim: 1,
        end_dim: 2,
    })?;
    let weight = per_channel(&mut p, weight, rank, "weight")?;
    let bias = per_channel(&mut p, bias, rank, "bias")?;
    affine(&mut p, y, weight, bias, true)
}

/// A per-channel vector `[C]` viewed as `[C, 1, ...]` so that it broadcasts against
/// `(N, C, *)` of `rank`; the node is `{name}_{what}`, where a size mismatch is reported.
fn per_channel(
    p: &mut Parts,
    t: Option<NodeId>,
    rank: usize,
    what: &str,
) -> Result<Option<NodeId>, IrError> {
    let Some(t) = t else { return Ok(None) };
    let (_, r) = known_rank(p.g, p.name, p.op, t)?;
    if r != 1 {
        return Err(p.invalid(format!(
            "{what} must be a 1-d tensor of one value per channel, found rank {r}"
        )));
    }
    if rank == 2 {
        return Ok(Some(t));
    }
    let mut sizes = vec![Dim::Fixed(-1)];
    sizes.extend(std::iter::repeat_n(Dim::Fixed(1), rank - 2));
    p.named(
        what,
        Op::Unflatten {
            x: t,
            dim: 0,
            sizes,
        },
    )
    .map(Some)
}

/// `batch_norm`'s arguments after the input, with PyTorch's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    pub running_mean: Option<NodeId>,
    pub running_var: Option<NodeId>,
    pub weight: Option<NodeId>,
    pub bias: Option<NodeId>,
    pub training: bool,
    /// Not used by the graph: the running statistics' update is the caller's (see
    /// [`batch_norm`]); kept so that every front end passes PyTorch's arguments through.
    pub momentum: f64,
    pub eps: f64,
}

impl Default for BatchNorm {
    fn default() -> Self {
        BatchNorm {
            running_mean: None,
            running_var: None,
            weight: None,
            bias: None,
            training: false,
            momentum: 0.1,
            eps: 1e-5,
        }
    }
}

/// `batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
/// momentum=0.1, eps=1e-05)` on `(N, C, *)`.
///
/// Eval (`training=false`, one name): `(x - running_mean) * rsqrt(running_var + eps) *
/// weight + bias`, per channel. Training (three names): the statistics of this batch over
/// every dim but 1; the results are `[y, batch_mean, batch_var]`, the last two of shape `[C]`,
/// the variance biased (as used to normalise). PyTorch's in-place running update is the
/// caller's to build from them: `running_mean' = (1 - momentum) * running_mean + momentum *
/// batch_mean` and `running_var' = (1 - momentum) * running_var + momentum * batch_var * n /
/// (n - 1)` with `n = numel / C` (PyTorch updates with the unbiased variance).
pub fn batch_norm(
    g: &mut Graph,
    names: &[&str],
    x: NodeId,
    args: &BatchNorm,
) -> Result<Vec<NodeId>, IrError> {
    let name = names.first().copied().unwrap_or("batch_norm");
    let (_, rank) = known_rank(g, name, "batch_norm", x)?;
    let mut p = Parts::new(g, name, "batch_norm");
    p.require_float(x)?;
    let wanted = if args.training { 3 } else { 1 };
    if names.len() != wanted {
        return Err(p.invalid(format!(
            "batch_norm with training={} returns {wanted} value(s), but {} names are given",
            args.training,
            names.len()
        )));
    }
    if rank < 2 {
        return Err(p.invalid(format!(
            "expected an input of shape (N, C, *) with at least 2 dims, found rank {rank}"
        )));
    }
    let weight = per_channel(&mut p, args.weight, rank, "weight")?;
    let bias = per_channel(&mut p, args.bias, rank, "bias")?;
    if args.training {
        return batch_norm_train(&mut p, names, x, rank, weight, bias, args.eps);
    }
    let (Some(rm), Some(rv)) = (args.running_mean, args.running_var) else {
        return Err(p.invalid(
            "running_mean and running_var must be given in evaluation mode (training=false)".into(),
        ));
    };
    let rm = per_channel(&mut p, Some(rm), rank, "running_mean")?.expect("given");
    let rv = per_channel(&mut p, Some(rv), rank, "running_var")?.expect("given");
    // Named for the argument whose size a broadcasting error would be about.
    let centred = p.named("minus_running_mean", sub(x, rm))?;
    let shifted = p.named("running_var_plus_eps", add_eps(rv, args.eps))?;
    let rstd = p.unary(UnaryOp::Rsqrt, shifted)?;
    let y = p.binary(BinaryOp::Mul, v(centred), v(rstd))?;
    Ok(vec![affine(&mut p, y, weight, bias, true)?])
}

fn batch_norm_train(
    p: &mut Parts,
    names: &[&str],
    x: NodeId,
    rank: usize,
    weight: Option<NodeId>,
    bias: Option<NodeId>,
    eps: f64,
) -> Result<Vec<NodeId>, IrError> {
    let dims: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
    let (y, mean, var) = normalise(p, x, dims, eps)?;
    let y = affine(p, y, weight, bias, true)?;
    let flat = |x| Op::Flatten {
        x,
        start_dim: 0,
        end_dim: -1,
    };
    let mean = p.g.add_op(names[1], flat(mean))?;
    let var = p.g.add_op(names[2], flat(var))?;
    Ok(vec![y, mean, var])
}
