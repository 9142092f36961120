//! Evaluation on concrete values with checked `i64` arithmetic: never a panic, never a wrap.
use super::{Atom, EvalError, Expr};
use crate::env::SymbolLookup;

/// Python floor division; `None` on division by zero or overflow (`i64::MIN // -1`).
pub fn floor_div_i64(a: i64, b: i64) -> Option<i64> {
    let quotient = a.checked_div(b)?;
    let remainder = a.checked_rem(b)?;
    if remainder != 0 && ((remainder < 0) != (b < 0)) {
        quotient.checked_sub(1)
    } else {
        Some(quotient)
    }
}

/// Python modulo (the result has the divisor's sign); `None` only on division by zero.
pub fn python_mod(a: i64, b: i64) -> Option<i64> {
    if b == -1 {
        // `i64::MIN % -1` overflows in Rust, but the exact result 0 is representable.
        return Some(0);
    }
    let remainder = a.checked_rem(b)?;
    if remainder != 0 && ((remainder < 0) != (b < 0)) {
        // Opposite signs: the sum lies strictly between them and cannot overflow.
        Some(remainder + b)
    } else {
        Some(remainder)
    }
}

fn overflow(what: &dyn std::fmt::Display) -> EvalError {
    EvalError::Overflow {
        expr: what.to_string(),
    }
}

/// Sums the terms in canonical order, then the constant. `bounds` mirrors this order exactly,
/// so that every intermediate a successful evaluation computes lies in `i64`.
pub(super) fn eval_expr(e: &Expr, values: &dyn SymbolLookup) -> Result<i64, EvalError> {
    let mut sum: i64 = 0;
    for term in &e.terms {
        let mut product = term.coeff;
        for factor in &term.factors {
            let base = eval_atom(&factor.atom, values)?;
            let power = base
                .checked_pow(factor.power)
                .ok_or_else(|| overflow(&factor.atom))?;
            product = product.checked_mul(power).ok_or_else(|| overflow(e))?;
        }
        sum = sum.checked_add(product).ok_or_else(|| overflow(e))?;
    }
    sum.checked_add(e.constant).ok_or_else(|| overflow(e))
}

fn eval_atom(atom: &Atom, values: &dyn SymbolLookup) -> Result<i64, EvalError> {
    match atom {
        Atom::Sym(name) => values
            .value(name)
            .ok_or_else(|| EvalError::Unbound(name.clone())),
        Atom::FloorDiv(a, b) => {
            let (x, y) = (a.eval(values)?, b.eval(values)?);
            if y == 0 {
                return Err(EvalError::DivisionByZero {
                    expr: atom.to_string(),
                });
            }
            floor_div_i64(x, y).ok_or_else(|| overflow(atom))
        }
        Atom::Mod(a, b) => {
            let (x, y) = (a.eval(values)?, b.eval(values)?);
            python_mod(x, y).ok_or_else(|| EvalError::DivisionByZero {
                expr: atom.to_string(),
            })
        }
        Atom::Min(args) => extremum(atom, args, values, Iterator::min),
        Atom::Max(args) => extremum(atom, args, values, Iterator::max),
        Atom::Add(a, b) => a
            .eval(values)?
            .checked_add(b.eval(values)?)
            .ok_or_else(|| overflow(atom)),
        Atom::Mul(a, b) => a
            .eval(values)?
            .checked_mul(b.eval(values)?)
            .ok_or_else(|| overflow(atom)),
    }
}

fn extremum(
    atom: &Atom,
    args: &[Expr],
    values: &dyn SymbolLookup,
    pick: fn(std::vec::IntoIter<i64>) -> Option<i64>,
) -> Result<i64, EvalError> {
    let evaluated = args
        .iter()
        .map(|a| a.eval(values))
        .collect::<Result<Vec<_>, _>>()?;
    // Only a hand-made (deserialised) atom can be empty; it has no value to give.
    pick(evaluated.into_iter()).ok_or_else(|| overflow(atom))
}
