//! Activations (the nn family), as composites of elementwise primitives, with PyTorch's
//! argument names, defaults and edge cases. Each follows PyTorch's CPU kernel formula, so
//! NaN, infinities and -0.0 come out as they do there: `clamp` selects with comparisons
//! rather than `maximum`/`minimum`, which keeps `clamp(-0.0, min=0.0)` at -0.0 and a NaN
//! input NaN, as `std::min(std::max(x, lo), hi)` does.
use super::parts::{Parts, s, v};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, UnaryOp};

/// `clamp(input, min=None, max=None)` with scalar bounds: `min(max(x, min), max)`, so
/// `min > max` gives `max` everywhere; a NaN input stays NaN, a NaN bound makes every
/// element NaN (as in PyTorch); at least one bound is required.
pub fn clamp(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "clamp");
    if min.is_none() && max.is_none() {
        return Err(p.invalid("At least one of 'min' or 'max' must not be None".into()));
    }
    p.require_float(x)?;
    clamp_parts(&mut p, x, min, max)
}

fn clamp_parts(
    p: &mut Parts,
    x: NodeId,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<NodeId, IrError> {
    let mut y = x;
    let bounds = [
        (min, BinaryOp::Lt, BinaryOp::Maximum),
        (max, BinaryOp::Gt, BinaryOp::Minimum),
    ];
    let last = bounds.iter().rposition(|b| b.0.is_some());
    for (i, (bound, cmp, nan_op)) in bounds.into_iter().enumerate() {
        let Some(b) = bound else { continue };
        let is_last = Some(i) == last;
        y = if b.is_nan() {
            // Comparisons with NaN are false; PyTorch's result is NaN, as maximum gives.
            p.add(
                Op::Binary {
                    op: nan_op,
                    a: v(y),
                    b: s(b),
                },
                is_last,
            )?
        } else {
            bound_at(p, y, b, cmp, true, is_last)?
        };
    }
    Ok(y)
}

/// `y` held at the bound `b` on one side (`beyond` is `Lt` for a lower bound, `Gt` for an
/// upper one). PyTorch's backward passes the gradient only strictly inside the bounds, so an
/// element equal to `b` selects the bound too (the same value, no gradient); at `b == ±0` an
/// equal element keeps its own sign of zero, as `std::max(x, lo)` does, through `y * 0`
/// (still no gradient), unless `signed_zero` says `y` is never -0.0.
fn bound_at(
    p: &mut Parts,
    y: NodeId,
    b: f64,
    beyond: BinaryOp,
    signed_zero: bool,
    last: bool,
) -> Result<NodeId, IrError> {
    let plain = b != 0.0 || !signed_zero;
    let held = if plain {
        let or_equal = if beyond == BinaryOp::Lt {
            BinaryOp::Le
        } else {
            BinaryOp::Ge
        };
        p.binary(or_equal, v(y), s(b))?
    } else {
        p.binary(beyond, v(y), s(b))?
    };
    let inside = if plain {
        y
    } else {
        let equal = p.binary(BinaryOp::Eq, v(y), s(b))?;
        let zero = p.binary(BinaryOp::Mul, v(y), s(0.0))?;
        p.part(Op::Where {
            cond: v(equal),
            a: v(zero),
            b: v(y),
        })?
    };
    p.add(
        Op::Where {
            cond: v(held),
            a: s(b),
            b: v(inside),
        },
        last,
    )
}

/// `hardtanh(input, min_val=-1.0, max_val=1.0)`: `clamp` that refuses `min_val > max_val`.
pub fn hardtanh(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    min_val: f64,
    max_val: f64,
) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "hardtanh");
    if min_val > max_val {
        return Err(p.invalid(format!(
            "min_val cannot be greater than max_val (min_val={min_val}, max_val={max_val})"
        )));
    }
    p.require_float(x)?;
    clamp_parts(&mut p, x, Some(min_val), Some(max_val))
}

/// `relu6(input)` = `hardtanh(input, 0.0, 6.0)`.
pub fn relu6(g: &mut Graph, name: &str, x: NodeId) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "relu6");
    p.require_float(x)?;
    clamp_parts(&mut p, x, Some(0.0), Some(6.0))
}

/// `leaky_relu(input, negative_slope=0.01)`: `x > 0 ? x : x * negative_slope`.
pub fn leaky_relu(g: &mut Graph, name: &str, x: NodeId, slope: f64) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "leaky_relu");
    p.require_float(x)?;
    let pos = p.binary(BinaryOp::Gt, v(x), s(0.0))?;
    let neg = p.binary(BinaryOp::Mul, v(x), s(slope))?;
    p.result(Op::Where {
        cond: v(pos),
        a: v(x),
        b: v(neg),
    })
}

/// `x > 0 ? x * scale : expm1(x) * alpha * scale` (PyTorch's elu kernel; `alpha * scale`
/// folded into one scalar). Zeros take the first branch: `expm1(-0.0)` is -0.0 but
/// `exp(-0.0) - 1` is +0.0, and `x * scale` keeps the sign as PyTorch's result does.
fn elu_parts(p: &mut Parts, x: NodeId, alpha: f64, scale: f64) -> Result<NodeId, IrError> {
    let pos = p.binary(BinaryOp::Ge, v(x), s(0.0))?;
    let e = p.unary(UnaryOp::Exp, x)?;
    let em1 = p.binary(BinaryOp::Sub, v(e), s(1.0))?;
    let neg = p.binary(BinaryOp::Mul, v(em1), s(alpha * scale))?;
    let kept = if scale == 1.0 {
        x
    } else {
        p.binary(BinaryOp::Mul, v(x), s(scale))?
    };
    p.result(Op::Where {
        cond: v(pos),
        a: v(kept),
        b: v(neg),
    })
}

/// `elu(input, alpha=1.0)`.
pub fn elu(g: &mut Graph, name: &str, x: NodeId, alpha: f64) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "elu");
    p.require_float(x)?;
    elu_parts(&mut p, x, alpha, 1.0)
}

/// `selu(input)`: elu with PyTorch's fixed alpha and scale.
pub fn selu(g: &mut Graph, name: &str, x: NodeId) -> Result<NodeId, IrError> {
    const ALPHA: f64 = 1.673_263_242_354_377_3;
    const SCALE: f64 = 1.050_700_987_355_480_5;
    let mut p = Parts::new(g, name, "selu");
    p.require_float(x)?;
    elu_parts(&mut p, x, ALPHA, SCALE)
}

/// `min(max(x + 3, 0), 6)`, the shared part of hardsigmoid and hardswish (never -0.0).
fn relu6_of_x_plus_3(p: &mut Parts, x: NodeId) -> Result<NodeId, IrError> {
    let shifted = p.binary(BinaryOp::Add, v(x), s(3.0))?;
    // Selects, not maximum/minimum: those split a tie's gradient, PyTorch gives none at
    // x = -3 and x = 3.
    let lo = bound_at(p, shifted, 0.0, BinaryOp::Lt, false, false)?;
    bound_at(p, lo, 6.0, BinaryOp::Gt, false, false)
}

/// `hardsigmoid(input)` = `min(max(x + 3, 0), 6) / 6`.
pub fn hardsigmoid(g: &mut Graph, name: &str, x: NodeId) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "hardsigmoid");
    p.require_float(x)?;
    let r = relu6_of_x_plus_3(&mut p, x)?;
    p.result(Op::Binary {
        op: BinaryOp::Div,
        a: v(r),
        b: s(6.0),
    })
}

/// `hardswish(input)` = `x * min(max(x + 3, 0), 6) / 6`.
pub fn hardswish(g: &mut Graph, name: &str, x: NodeId) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "hardswish");
    p.require_float(x)?;
    let r = relu6_of_x_plus_3(&mut p, x)?;
    let xr = p.binary(BinaryOp::Mul, v(x), v(r))?;
    p.result(Op::Binary {
        op: BinaryOp::Div,
        a: v(xr),
        b: s(6.0),
    })
}

/// `log(1 + exp(z))`: kiln has no log1p, so for very negative `z` this is 0 where PyTorch
/// returns `exp(z)` (an absolute difference below `exp(z)`).
fn log1p_exp(p: &mut Parts, z: NodeId) -> Result<NodeId, IrError> {
    let e = p.unary(UnaryOp::Exp, z)?;
    let e1 = p.binary(BinaryOp::Add, v(e), s(1.0))?;
    p.unary(UnaryOp::Log, e1)
}

/// `softplus(input, beta=1.0, threshold=20.0)`: `x * beta > threshold ? x :
/// log1p(exp(x * beta)) / beta`.
pub fn softplus(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    beta: f64,
    threshold: f64,
) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "softplus");
    p.require_float(x)?;
    let z = if beta == 1.0 {
        x
    } else {
        p.binary(BinaryOp::Mul, v(x), s(beta))?
    };
    let linear = p.binary(BinaryOp::Gt, v(z), s(threshold))?;
    let mut soft = log1p_exp(&mut p, z)?;
    if beta != 1.0 {
        soft = p.binary(BinaryOp::Div, v(soft), s(beta))?;
    }
    p.result(Op::Where {
        cond: v(linear),
        a: v(x),
        b: v(soft),
    })
}

/// `mish(input)` = `x * tanh(softplus(x))` (PyTorch's kernel has no threshold).
pub fn mish(g: &mut Graph, name: &str, x: NodeId) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "mish");
    p.require_float(x)?;
    let sp = log1p_exp(&mut p, x)?;
    let t = p.unary(UnaryOp::Tanh, sp)?;
    p.result(Op::Binary {
        op: BinaryOp::Mul,
        a: v(x),
        b: v(t),
    })
}

/// `log_softmax(input, dim)`, numerically stable: `(x - max) - log(sum(exp(x - max)))` with
/// the row max and sum kept as size-1 dims.
pub fn log_softmax(g: &mut Graph, name: &str, x: NodeId, dim: i64) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "log_softmax");
    p.require_float(x)?;
    let m = p.reduce(crate::ReduceOp::Amax, x, vec![dim])?;
    let shifted = p.binary(BinaryOp::Sub, v(x), v(m))?;
    let e = p.unary(UnaryOp::Exp, shifted)?;
    let sum = p.reduce(crate::ReduceOp::Sum, e, vec![dim])?;
    let lse = p.unary(UnaryOp::Log, sum)?;
    p.result(Op::Binary {
        op: BinaryOp::Sub,
        a: v(shifted),
        b: v(lse),
    })
}

/// `dropout(input, p=0.5, training=False)`: the identity in eval mode (a same-dtype `to`, so
/// the result has its own node and name). Training mode needs random numbers, which kiln
/// does not have: a typed error.
pub fn dropout(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    prob: f64,
    training: bool,
) -> Result<NodeId, IrError> {
    let mut p = Parts::new(g, name, "dropout");
    if !(0.0..=1.0).contains(&prob) {
        return Err(p.invalid(format!(
            "dropout probability has to be between 0 and 1, but got {prob}"
        )));
    }
    if training {
        return Err(p.invalid(
            "training=true is not supported: kiln has no random number generator (dropout \
             in eval mode, training=false, is the identity)"
                .into(),
        ));
    }
    let dtype = crate::value_info(p.g, x)?.dtype;
    p.result(Op::Cast { x, dtype })
}
