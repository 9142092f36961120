//! Integer [`Expr`]essions and [`Cond`]itions as C expressions of the kernel's index type.
//!
//! Loop variables `%o3` / `%r1` become `o3` / `r1`; graph symbols become `s<i>`, their position
//! in [`kiln_sched::Program::symbols`] (names need not be C identifiers). Floor division and
//! modulo call the Python-semantics helpers of `kiln.cuh`, since pooling window starts can be
//! negative and C's `/` truncates toward zero.
use kiln_sched::is_loop_var;
use kiln_shape::{Atom, Cond, Expr};

/// Translates expressions for one kernel: knows the symbol order and the index type.
pub(crate) struct ExprWriter<'a> {
    pub symbols: &'a [String],
    /// `int` or `long long`.
    pub idx: &'static str,
}

impl ExprWriter<'_> {
    /// The C name of a symbol or loop variable.
    pub fn name(&self, sym: &str) -> Result<String, String> {
        if is_loop_var(sym) {
            let rest = &sym[1..];
            let valid = rest.len() > 1
                && matches!(rest.as_bytes()[0], b'o' | b'r')
                && rest[1..].bytes().all(|b| b.is_ascii_digit());
            return if valid {
                Ok(rest.to_string())
            } else {
                Err(format!("unknown loop variable `{sym}`"))
            };
        }
        self.symbols
            .iter()
            .position(|s| s == sym)
            .map(|i| format!("s{i}"))
            .ok_or_else(|| format!("symbol `{sym}` is not among the program's symbols"))
    }

    /// An integer literal of the index type; `long long` when it does not fit an `int`.
    fn literal(&self, v: i64) -> String {
        if v == i64::MIN {
            return "(-9223372036854775807LL - 1)".to_string();
        }
        let fits_int = i32::try_from(v).is_ok();
        let suffix = if fits_int && self.idx == "int" {
            ""
        } else {
            "LL"
        };
        if v < 0 {
            format!("({v}{suffix})")
        } else {
            format!("{v}{suffix}")
        }
    }

    pub fn expr(&self, e: &Expr) -> Result<String, String> {
        let mut parts = Vec::new();
        for (coeff, factors) in e.terms() {
            let mut product: Vec<String> = Vec::new();
            if coeff != 1 {
                product.push(self.literal(coeff));
            }
            for f in factors {
                let atom = self.atom(f.atom())?;
                for _ in 0..f.power() {
                    product.push(atom.clone());
                }
            }
            parts.push(product.join(" * "));
        }
        let c = e.constant_term();
        if c != 0 || parts.is_empty() {
            parts.push(self.literal(c));
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" + "))
        })
    }

    fn atom(&self, a: &Atom) -> Result<String, String> {
        Ok(match a {
            Atom::Sym(s) => self.name(s)?,
            Atom::FloorDiv(a, b) => format!(
                "kiln_floordiv(({})({}), ({})({}))",
                self.idx,
                self.expr(a)?,
                self.idx,
                self.expr(b)?
            ),
            Atom::Mod(a, b) => format!(
                "kiln_mod(({})({}), ({})({}))",
                self.idx,
                self.expr(a)?,
                self.idx,
                self.expr(b)?
            ),
            Atom::Min(args) => self.fold("kiln_imin", args)?,
            Atom::Max(args) => self.fold("kiln_imax", args)?,
            Atom::Add(a, b) => format!("({} + {})", self.expr(a)?, self.expr(b)?),
            Atom::Mul(a, b) => format!("({} * {})", self.expr(a)?, self.expr(b)?),
        })
    }

    /// `f(f(a, b), c)` over `args`, each cast to the index type so the overload is unambiguous.
    fn fold(&self, f: &str, args: &[Expr]) -> Result<String, String> {
        let mut it = args.iter();
        let first = it.next().ok_or("min/max of no arguments")?;
        let mut acc = format!("({})({})", self.idx, self.expr(first)?);
        for a in it {
            acc = format!("{f}({acc}, ({})({}))", self.idx, self.expr(a)?);
        }
        Ok(acc)
    }

    pub fn cond(&self, c: &Cond) -> Result<String, String> {
        Ok(format!(
            "({} {} {})",
            self.expr(c.lhs())?,
            c.op().symbol(),
            self.expr(c.rhs())?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(idx: &'static str) -> (Vec<String>, &'static str) {
        (vec!["H".to_string(), "N".to_string()], idx)
    }

    #[test]
    fn polynomial_with_symbols_and_loop_vars() {
        let (syms, idx) = w("int");
        let ew = ExprWriter {
            symbols: &syms,
            idx,
        };
        let e = &(&Expr::sym("%o0") * &Expr::sym("H")) + &Expr::int(-3);
        let c = ew.expr(&e).unwrap();
        assert!(
            c.contains("o0") && c.contains("s0") && c.contains("(-3)"),
            "{c}"
        );
    }

    #[test]
    fn floor_div_uses_python_helper_and_long_literals_in_64_bit() {
        let (syms, idx) = w("long long");
        let ew = ExprWriter {
            symbols: &syms,
            idx,
        };
        let e = Expr::sym("N").floor_div(&Expr::int(2));
        let c = ew.expr(&e).unwrap();
        assert!(c.contains("kiln_floordiv") && c.contains("2LL"), "{c}");
    }

    #[test]
    fn unknown_symbol_is_an_error() {
        let (syms, idx) = w("int");
        let ew = ExprWriter {
            symbols: &syms,
            idx,
        };
        assert!(ew.expr(&Expr::sym("W")).is_err());
        assert!(ew.name("%x1").is_err());
    }
}
