//! Readable, deterministic text: `3*N + 2`, `N*W`, `(H + 2)//3`, `(N + 1)%4`, `Min(H, 4)`.
//!
//! Operator precedence follows Python, so the text also reads correctly as a Python expression:
//! a division or modulo inside a product or a power is parenthesised (`2*(N//3)`).
use std::fmt;

use super::{Atom, Expr, Factor};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return write!(f, "{}", self.constant);
        }
        for (i, term) in self.terms.iter().enumerate() {
            let negative = term.coeff < 0;
            match (i, negative) {
                (0, false) => {}
                (0, true) => f.write_str("-")?,
                (_, false) => f.write_str(" + ")?,
                (_, true) => f.write_str(" - ")?,
            }
            write_term(
                f,
                term.coeff.unsigned_abs(),
                &term.factors,
                i == 0 && negative,
            )?;
        }
        match self.constant {
            0 => Ok(()),
            c if c < 0 => write!(f, " - {}", c.unsigned_abs()),
            c => write!(f, " + {c}"),
        }
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `magnitude*f1*f2`; a lone factor after a unary minus still needs parentheses if it is a
/// division (`-(N//3)` is not `-N//3`).
fn write_term(
    f: &mut fmt::Formatter<'_>,
    magnitude: u64,
    factors: &[Factor],
    after_unary_minus: bool,
) -> fmt::Result {
    let alone = magnitude == 1 && factors.len() == 1;
    if magnitude != 1 {
        write!(f, "{magnitude}*")?;
    }
    for (i, factor) in factors.iter().enumerate() {
        if i > 0 {
            f.write_str("*")?;
        }
        let binary_operator = matches!(factor.atom, Atom::FloorDiv(..) | Atom::Mod(..));
        let parenthesise = binary_operator && (!alone || after_unary_minus || factor.power > 1);
        if parenthesise {
            write!(f, "({})", factor.atom)?;
        } else {
            write!(f, "{}", factor.atom)?;
        }
        if factor.power > 1 {
            write!(f, "**{}", factor.power)?;
        }
    }
    Ok(())
}

/// An operand of `//`, `%` or an unfolded `*`: parenthesised unless it is a non-negative constant
/// or a single symbol or function-like atom.
fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr) -> fmt::Result {
    let simple = match e.as_single_atom() {
        Some(atom) => !matches!(atom, Atom::FloorDiv(..) | Atom::Mod(..)),
        None => e.as_int().is_some_and(|v| v >= 0),
    };
    if simple {
        write!(f, "{e}")
    } else {
        write!(f, "({e})")
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Sym(name) => f.write_str(name),
            Atom::FloorDiv(a, b) => {
                write_operand(f, a)?;
                f.write_str("//")?;
                write_operand(f, b)
            }
            Atom::Mod(a, b) => {
                write_operand(f, a)?;
                f.write_str("%")?;
                write_operand(f, b)
            }
            Atom::Min(args) => write_call(f, "Min", args),
            Atom::Max(args) => write_call(f, "Max", args),
            Atom::Add(a, b) => write!(f, "({a} + {b})"),
            Atom::Mul(a, b) => {
                f.write_str("(")?;
                write_operand(f, a)?;
                f.write_str("*")?;
                write_operand(f, b)?;
                f.write_str(")")
            }
        }
    }
}

fn write_call(f: &mut fmt::Formatter<'_>, name: &str, args: &[Expr]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{arg}")?;
    }
    f.write_str(")")
}
