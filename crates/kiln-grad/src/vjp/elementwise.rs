//! Elementwise rules: unary math, binary arithmetic with broadcasting (each contribution
//! summed back to its operand's shape), `where` and `to`. PyTorch's conventions at the edges:
//! `relu'(0) = 0` (the mask is `result > 0`), `abs'(0) = 0`, `maximum`/`minimum` split a tie
//! evenly, `pow`'s exponent gradient is 0 where the base is 0 and the exponent >= 0.
use kiln_ir::{BinaryOp as B, NodeId, Op, Operand, UnaryOp as U};

use super::{Cx, s, v};
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    match op {
        Op::Unary { op: u, x } => Ok(vec![unary(cx, node, *u, *x, ct, op)?]),
        Op::Binary { op: b, a, b: rhs } => binary(cx, node, *b, *a, *rhs, ct, needs),
        Op::Where { cond, a, b } => {
            let mut out = Vec::new();
            if let Operand::Value(_) = cond {
                out.push(None); // the condition is bool: no gradient
            }
            for (operand, keep_true) in [(a, true), (b, false)] {
                let Operand::Value(x) = *operand else {
                    continue;
                };
                let (t, f) = if keep_true {
                    (v(ct), s(0.0))
                } else {
                    (s(0.0), v(ct))
                };
                let c = cx.where_(*cond, t, f)?;
                out.push(Some(cx.sum_to(c, x)?));
            }
            Ok(out
                .into_iter()
                .zip(needs)
                .map(|(c, &n)| c.filter(|_| n))
                .collect())
        }
        Op::Cast { x, .. } => Ok(vec![Some(cx.cast(ct, cx.dtype(*x))?)]),
        _ => unreachable!("elementwise::vjp is only called for elementwise ops"),
    }
}

fn unary(
    cx: &mut Cx,
    node: NodeId,
    u: U,
    x: NodeId,
    ct: NodeId,
    op: &Op,
) -> Result<Option<NodeId>, GradError> {
    let y = cx.fwd(node);
    let x = cx.fwd(x);
    let c = v(ct);
    let g = match u {
        U::Neg => cx.binary(B::Mul, c, s(-1.0))?,
        U::Abs => {
            let neg = cx.scale(ct, -1.0)?;
            let gt = cx.binary(B::Gt, v(x), s(0.0))?;
            let lt = cx.binary(B::Lt, v(x), s(0.0))?;
            let inner = cx.where_(v(lt), v(neg), s(0.0))?;
            cx.where_(v(gt), c, v(inner))?
        }
        U::Exp => cx.mul(ct, y)?,
        U::Log => cx.binary(B::Div, c, v(x))?,
        U::Sqrt => {
            let twice = cx.scale(y, 2.0)?;
            cx.binary(B::Div, c, v(twice))?
        }
        U::Rsqrt => {
            // d/dx x^-1/2 = -1/2 * y^3
            let y2 = cx.mul(y, y)?;
            let y3 = cx.mul(y2, y)?;
            let k = cx.scale(y3, -0.5)?;
            cx.mul(ct, k)?
        }
        U::Reciprocal => {
            let y2 = cx.mul(y, y)?;
            let k = cx.scale(y2, -1.0)?;
            cx.mul(ct, k)?
        }
        U::Sin => {
            let d = cx.unary(U::Cos, x)?;
            cx.mul(ct, d)?
        }
        U::Cos => {
            let sin = cx.unary(U::Sin, x)?;
            let d = cx.scale(sin, -1.0)?;
            cx.mul(ct, d)?
        }
        U::Tanh => {
            let y2 = cx.mul(y, y)?;
            let d = cx.binary(B::Sub, s(1.0), v(y2))?;
            cx.mul(ct, d)?
        }
        U::Sigmoid => {
            let one_minus = cx.binary(B::Sub, s(1.0), v(y))?;
            let d = cx.mul(y, one_minus)?;
            cx.mul(ct, d)?
        }
        U::Relu => {
            let pos = cx.binary(B::Gt, v(y), s(0.0))?;
            cx.where_(v(pos), c, s(0.0))?
        }
        U::Silu => {
            // sigmoid(x) * (1 + x * (1 - sigmoid(x)))
            let sg = cx.unary(U::Sigmoid, x)?;
            let one_minus = cx.binary(B::Sub, s(1.0), v(sg))?;
            let t = cx.mul(x, one_minus)?;
            let t1 = cx.binary(B::Add, v(t), s(1.0))?;
            let d = cx.mul(sg, t1)?;
            cx.mul(ct, d)?
        }
        U::Gelu => {
            let d = gelu_derivative(cx, x, y)?;
            cx.mul(ct, d)?
        }
        U::GeluTanh => {
            let d = gelu_tanh_derivative(cx, x)?;
            cx.mul(ct, d)?
        }
        // Piecewise constant: the gradient is zero, as PyTorch's.
        U::Floor | U::Ceil => return Ok(None),
        U::LogicalNot => {
            return Err(cx.not_differentiable(op, "logical_not has a bool result"));
        }
    };
    Ok(Some(g))
}

/// gelu'(x) = Phi(x) + x * phi(x). kiln has no `erf` op, so Phi(x) is recovered from the
/// forward result as gelu(x) / x (0.5 at x = 0), accurate to a few ulp except where gelu(x)
/// underflows (x < -37), where the true derivative is below f32's smallest normal anyway.
fn gelu_derivative(cx: &mut Cx, x: NodeId, y: NodeId) -> Result<NodeId, GradError> {
    let ratio = cx.binary(B::Div, v(y), v(x))?;
    let zero = cx.binary(B::Eq, v(x), s(0.0))?;
    let cdf = cx.where_(v(zero), s(0.5), v(ratio))?;
    let x2 = cx.mul(x, x)?;
    let e = cx.binary(B::Mul, v(x2), s(-0.5))?;
    let ex = cx.unary(U::Exp, e)?;
    let pdf = cx.binary(B::Mul, v(ex), s(1.0 / (2.0 * std::f64::consts::PI).sqrt()))?;
    let xpdf = cx.mul(x, pdf)?;
    cx.binary(B::Add, v(cdf), v(xpdf))
}

/// PyTorch's derivative of `gelu(x, approximate="tanh")`, term for term.
fn gelu_tanh_derivative(cx: &mut Cx, x: NodeId) -> Result<NodeId, GradError> {
    let beta = (2.0 / std::f64::consts::PI).sqrt();
    let kappa = 0.044715;
    let x2 = cx.mul(x, x)?;
    let x3 = cx.mul(x2, x)?;
    let kx3 = cx.scale(x3, kappa)?;
    let sum = cx.binary(B::Add, v(x), v(kx3))?;
    let inner = cx.scale(sum, beta)?;
    let t = cx.unary(U::Tanh, inner)?;
    let right = cx.binary(B::Add, v(t), s(1.0))?;
    let left_derivative = cx.scale(right, 0.5)?;
    let t2 = cx.mul(t, t)?;
    let sech2 = cx.binary(B::Sub, s(1.0), v(t2))?;
    let poly = cx.binary(B::Mul, v(x2), s(3.0 * kappa))?;
    let poly1 = cx.binary(B::Add, v(poly), s(1.0))?;
    let half_x = cx.scale(x, 0.5)?;
    let r1 = cx.mul(half_x, sech2)?;
    let r2 = cx.scale(r1, beta)?;
    let right_derivative = cx.mul(r2, poly1)?;
    cx.binary(B::Add, v(left_derivative), v(right_derivative))
}

/// The contribution `c` to a value operand, summed back to its shape.
fn to_operand(cx: &mut Cx, c: NodeId, operand: Operand) -> Result<Option<NodeId>, GradError> {
    match operand {
        Operand::Value(x) => Ok(Some(cx.sum_to(c, x)?)),
        Operand::Scalar(_) => Ok(None),
    }
}

#[allow(clippy::too_many_arguments)]
fn binary(
    cx: &mut Cx,
    node: NodeId,
    b: B,
    lhs: Operand,
    rhs: Operand,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let values: Vec<bool> = [lhs, rhs]
        .iter()
        .map(|o| matches!(o, Operand::Value(_)))
        .collect();
    // needs is indexed by value operands only; spread it over the two positions.
    let mut it = needs.iter();
    let need: Vec<bool> = values
        .iter()
        .map(|&is| is && *it.next().unwrap_or(&false))
        .collect();
    let c = v(ct);
    let y = cx.fwd(node);
    let mut parts: [Option<NodeId>; 2] = [None, None];
    if need[0] {
        let g = match b {
            B::Add => ct,
            B::Sub => ct,
            B::Mul => cx.binary(B::Mul, c, rhs)?,
            B::Div => cx.binary(B::Div, c, rhs)?,
            B::Maximum | B::Minimum => tie_split(cx, b, ct, lhs, rhs, true)?,
            B::Pow => pow_base(cx, ct, lhs, rhs)?,
            _ => {
                return Err(cx.not_differentiable(
                    &Op::Binary {
                        op: b,
                        a: lhs,
                        b: rhs,
                    },
                    "a comparison has a bool result",
                ));
            }
        };
        parts[0] = to_operand(cx, g, lhs)?;
    }
    if need[1] {
        let g = match b {
            B::Add => ct,
            B::Sub => cx.scale(ct, -1.0)?,
            B::Mul => cx.binary(B::Mul, c, lhs)?,
            B::Div => {
                // -ct * a / b^2 = -ct * y / b
                let q = cx.binary(B::Div, v(y), rhs)?;
                let t = cx.mul(ct, q)?;
                cx.scale(t, -1.0)?
            }
            B::Maximum | B::Minimum => tie_split(cx, b, ct, lhs, rhs, false)?,
            B::Pow => pow_exponent(cx, ct, y, lhs, rhs)?,
            _ => {
                return Err(cx.not_differentiable(
                    &Op::Binary {
                        op: b,
                        a: lhs,
                        b: rhs,
                    },
                    "a comparison has a bool result",
                ));
            }
        };
        parts[1] = to_operand(cx, g, rhs)?;
    }
    Ok(parts
        .into_iter()
        .zip(values)
        .filter(|(_, is)| *is)
        .map(|(p, _)| p)
        .collect())
}

/// `maximum`/`minimum`: the gradient goes to the operand that won, half to each on a tie
/// (and to both where a NaN makes neither comparison true), as PyTorch.
fn tie_split(
    cx: &mut Cx,
    b: B,
    ct: NodeId,
    lhs: Operand,
    rhs: Operand,
    for_lhs: bool,
) -> Result<NodeId, GradError> {
    // The operand loses where the other is strictly better.
    let loses = match (b, for_lhs) {
        (B::Maximum, true) | (B::Minimum, false) => B::Lt,
        _ => B::Gt,
    };
    let lost = cx.binary(loses, lhs, rhs)?;
    let tie = cx.binary(B::Eq, lhs, rhs)?;
    let half = cx.scale(ct, 0.5)?;
    let kept = cx.where_(v(tie), v(half), v(ct))?;
    cx.where_(v(lost), s(0.0), v(kept))
}

/// d(a^b)/da = b * a^(b-1), zero where b == 0 (PyTorch's `pow_backward`).
fn pow_base(cx: &mut Cx, ct: NodeId, a: Operand, b: Operand) -> Result<NodeId, GradError> {
    match b {
        Operand::Scalar(0.0) => cx.scale(ct, 0.0),
        Operand::Scalar(e) => {
            let p = cx.binary(B::Pow, a, s(e - 1.0))?;
            let t = cx.scale(p, e)?;
            cx.mul(ct, t)
        }
        Operand::Value(e) => {
            let e1 = cx.binary(B::Sub, v(e), s(1.0))?;
            let p = cx.binary(B::Pow, a, v(e1))?;
            let t = cx.mul(e, p)?;
            let g = cx.mul(ct, t)?;
            let zero = cx.binary(B::Eq, v(e), s(0.0))?;
            cx.where_(v(zero), s(0.0), v(g))
        }
    }
}

/// d(a^b)/db = a^b * log(a), zero where a == 0 and b >= 0 (PyTorch's
/// `pow_backward_exponent`).
fn pow_exponent(
    cx: &mut Cx,
    ct: NodeId,
    y: NodeId,
    a: Operand,
    b: Operand,
) -> Result<NodeId, GradError> {
    let x = match a {
        Operand::Scalar(base) => return scalar_base_exponent(cx, ct, y, base, b),
        Operand::Value(x) => x,
    };
    let log = cx.unary(U::Log, x)?;
    let t = cx.mul(y, log)?;
    let g = cx.mul(ct, t)?;
    let base_zero = cx.binary(B::Eq, a, s(0.0))?;
    let exp_nonneg = cx.binary(B::Ge, b, s(0.0))?;
    let both = cx.binary(B::LogicalAnd, v(base_zero), v(exp_nonneg))?;
    cx.where_(v(both), s(0.0), v(g))
}

/// `pow_exponent` for a scalar base: `ct * y * ln(base)`, zero where base == 0 and b >= 0.
fn scalar_base_exponent(
    cx: &mut Cx,
    ct: NodeId,
    y: NodeId,
    base: f64,
    b: Operand,
) -> Result<NodeId, GradError> {
    let t = cx.scale(y, base.ln())?;
    let g = cx.mul(ct, t)?;
    if base != 0.0 {
        return Ok(g);
    }
    let nonneg = cx.binary(B::Ge, b, s(0.0))?;
    cx.where_(v(nonneg), s(0.0), v(g))
}
