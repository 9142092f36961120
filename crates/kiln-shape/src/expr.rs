//! Symbolic integer expressions in a canonical form.
//!
//! An [`Expr`] is a polynomial with `i64` coefficients over *atoms*: symbols, and the nodes that
//! are not polynomial (floor division, modulo, min, max) whose arguments are canonical expressions
//! themselves. Every constructor re-canonicalises, so expressions that are equal as polynomials
//! compare and hash equal (`2*N + N == 3*N`, `(N + 1)*(N - 1) == N**2 - 1`). Every simplification
//! is valid for *all* integer values of the symbols, negative ones included.
//!
//! When folding two coefficients would overflow `i64`, the operation is kept unfolded as an
//! [`Atom::Add`] or [`Atom::Mul`] node instead: still exact, merely no longer canonical.
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::env::SymbolLookup;

mod display;
mod divmod;
mod eval;
mod minmax;
mod poly;
mod remainder;
#[cfg(test)]
mod tests;

pub(crate) use divmod::gcd;
pub use eval::{floor_div_i64, python_mod};

/// Why evaluating an expression on concrete values failed. Never a panic, never a wrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("integer overflow while evaluating `{expr}`")]
    Overflow { expr: String },
    #[error("division by zero while evaluating `{expr}`")]
    DivisionByZero { expr: String },
    #[error("symbol `{0}` has no value")]
    Unbound(String),
}

/// A symbolic integer in canonical form: two equal expressions built differently compare and
/// hash equal (`2*N + N == 3*N`). Division and modulo follow Python (floor) semantics.
///
/// The derived `Ord` is only a canonical order (for sorting and sets). Mind that on an *owned*
/// receiver `a.min(b)` resolves to `Ord::min`, not the symbolic minimum: write
/// `Expr::min(&a, &b)` or `(&a).min(&b)`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Expr {
    /// Non-constant terms, sorted by their factors; no two share factors, no coefficient is 0.
    terms: Vec<Term>,
    constant: i64,
}

/// `coeff * factors[0] * factors[1] * ...`, the factors sorted by atom and their atoms distinct.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Term {
    factors: Vec<Factor>,
    coeff: i64,
}

/// One factor of a term: an atom raised to a power of at least 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Factor {
    atom: Atom,
    power: u32,
}

impl Factor {
    pub fn atom(&self) -> &Atom {
        &self.atom
    }
    pub fn power(&self) -> u32 {
        self.power
    }
}

/// The indivisible building blocks of a polynomial. Their arguments are canonical expressions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Atom {
    Sym(String),
    /// Floor division `a // b`. A constant divisor is positive, unless it is 0 or `i64::MIN`.
    FloorDiv(Expr, Expr),
    /// Python modulo `a % b` (the sign of the divisor); constant divisors as for `FloorDiv`.
    Mod(Expr, Expr),
    /// The minimum of at least two arguments, sorted, constants last.
    Min(Vec<Expr>),
    /// The maximum of at least two arguments, sorted, constants last.
    Max(Vec<Expr>),
    /// An unfolded sum, kept only where folding would overflow an `i64` coefficient.
    Add(Expr, Expr),
    /// An unfolded product, kept only where folding would overflow an `i64` coefficient.
    Mul(Expr, Expr),
}

impl Atom {
    fn mentions(&self, sym: &str) -> bool {
        match self {
            Atom::Sym(name) => name == sym,
            Atom::FloorDiv(a, b) | Atom::Mod(a, b) | Atom::Add(a, b) | Atom::Mul(a, b) => {
                a.mentions(sym) || b.mentions(sym)
            }
            Atom::Min(args) | Atom::Max(args) => args.iter().any(|a| a.mentions(sym)),
        }
    }

    fn collect_symbols(&self, out: &mut BTreeSet<String>) {
        match self {
            Atom::Sym(name) => {
                out.insert(name.clone());
            }
            Atom::FloorDiv(a, b) | Atom::Mod(a, b) | Atom::Add(a, b) | Atom::Mul(a, b) => {
                a.collect_symbols(out);
                b.collect_symbols(out);
            }
            Atom::Min(args) | Atom::Max(args) => args.iter().for_each(|a| a.collect_symbols(out)),
        }
    }

    fn subst(&self, f: &dyn Fn(&str) -> Option<Expr>) -> Expr {
        match self {
            Atom::Sym(name) => f(name).unwrap_or_else(|| Expr::sym(name)),
            Atom::FloorDiv(a, b) => a.subst(f).floor_div(&b.subst(f)),
            Atom::Mod(a, b) => a.subst(f).modulo(&b.subst(f)),
            Atom::Add(a, b) => &a.subst(f) + &b.subst(f),
            Atom::Mul(a, b) => &a.subst(f) * &b.subst(f),
            Atom::Min(args) => minmax::extremum(args.iter().map(|a| a.subst(f)), minmax::Kind::Min),
            Atom::Max(args) => minmax::extremum(args.iter().map(|a| a.subst(f)), minmax::Kind::Max),
        }
    }
}

impl Expr {
    /// An integer constant.
    pub fn int(v: i64) -> Expr {
        Expr {
            terms: Vec::new(),
            constant: v,
        }
    }
    /// A named symbol.
    pub fn sym(name: &str) -> Expr {
        Expr::atom(Atom::Sym(name.to_string()))
    }
    /// The atom as an expression, as is: callers guarantee the atom is already canonical.
    fn atom(atom: Atom) -> Expr {
        Expr::term(vec![Factor { atom, power: 1 }], 1)
    }
    /// One term; `factors` must be sorted with distinct atoms.
    fn term(factors: Vec<Factor>, coeff: i64) -> Expr {
        if factors.is_empty() || coeff == 0 {
            return Expr::int(if factors.is_empty() { coeff } else { 0 });
        }
        Expr {
            terms: vec![Term { factors, coeff }],
            constant: 0,
        }
    }
    /// The atom when the expression is exactly one atom (coefficient 1, power 1, no constant).
    fn as_single_atom(&self) -> Option<&Atom> {
        match (self.terms.as_slice(), self.constant) {
            ([term], 0) if term.coeff == 1 => match term.factors.as_slice() {
                [factor] if factor.power == 1 => Some(&factor.atom),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn floor_div(&self, rhs: &Expr) -> Expr {
        divmod::floor_div(self, rhs)
    }
    pub fn ceil_div(&self, rhs: &Expr) -> Expr {
        // ceil(a / b) == -floor(-a / b) for every integer a and non-zero b.
        -&divmod::floor_div(&-self, rhs)
    }
    /// Python modulo: the result has the sign of the divisor.
    pub fn modulo(&self, rhs: &Expr) -> Expr {
        divmod::modulo(self, rhs)
    }
    pub fn min(&self, rhs: &Expr) -> Expr {
        minmax::extremum([self.clone(), rhs.clone()], minmax::Kind::Min)
    }
    pub fn max(&self, rhs: &Expr) -> Expr {
        minmax::extremum([self.clone(), rhs.clone()], minmax::Kind::Max)
    }
    /// The minimum of several expressions; `None` when `args` is empty.
    pub fn min_of(args: &[Expr]) -> Option<Expr> {
        (!args.is_empty()).then(|| minmax::extremum(args.iter().cloned(), minmax::Kind::Min))
    }
    /// The maximum of several expressions; `None` when `args` is empty.
    pub fn max_of(args: &[Expr]) -> Option<Expr> {
        (!args.is_empty()).then(|| minmax::extremum(args.iter().cloned(), minmax::Kind::Max))
    }
    /// `self` raised to `exp` (`1` for `exp == 0`).
    pub fn pow(&self, exp: u32) -> Expr {
        poly::pow(self, exp)
    }

    /// The expression with hand-built remainders folded into modulo (`H - 2*(H//2)` becomes
    /// `H%2`, `2*(H//2) + H%2` becomes `H`): equal in value, easier to read and to bound.
    /// Conditions fold their sides this way. It is not part of the canonical form that `==`
    /// compares, because folding a factor does not commute with multiplying it out.
    pub fn fold_remainders(&self) -> Expr {
        remainder::fold_remainders(self.clone())
    }
    /// `Some(v)` when the expression is the constant `v`.
    pub fn as_int(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.constant)
    }
    pub fn is_const(&self) -> bool {
        self.terms.is_empty()
    }
    /// `Some(name)` when the expression is exactly one symbol.
    pub fn as_sym(&self) -> Option<&str> {
        match self.as_single_atom() {
            Some(Atom::Sym(name)) => Some(name),
            _ => None,
        }
    }
    /// The constant term (0 when there is none).
    pub fn constant_term(&self) -> i64 {
        self.constant
    }
    /// The expression minus its constant term.
    pub fn without_constant(&self) -> Expr {
        Expr {
            terms: self.terms.clone(),
            constant: 0,
        }
    }
    /// `self / d` when `d` divides every coefficient and the constant exactly.
    pub fn divide_exact(&self, d: i64) -> Option<Expr> {
        if d == 0 {
            return None;
        }
        self.try_map_coeffs(|c| (c.checked_rem(d)? == 0).then(|| c.checked_div(d)).flatten())
    }
    /// The non-constant terms as `(coefficient, factors)`, in canonical order. Together with
    /// [`Expr::constant_term`] they are the whole expression: what code generators walk.
    pub fn terms(&self) -> impl Iterator<Item = (i64, &[Factor])> {
        self.terms.iter().map(|t| (t.coeff, t.factors.as_slice()))
    }
    /// The atoms of the top-level terms (each once per term it occurs in).
    pub fn atoms(&self) -> impl Iterator<Item = &Atom> {
        self.terms
            .iter()
            .flat_map(|t| t.factors.iter().map(|f| &f.atom))
    }
    /// Every symbol the expression mentions.
    pub fn symbols(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_symbols(&mut out);
        out
    }
    fn collect_symbols(&self, out: &mut BTreeSet<String>) {
        self.atoms().for_each(|a| a.collect_symbols(out));
    }
    /// Whether `sym` occurs anywhere, inside divisions, modulo, min and max included.
    pub fn mentions(&self, sym: &str) -> bool {
        self.atoms().any(|a| a.mentions(sym))
    }
    /// Evaluates with checked i64 arithmetic.
    pub fn eval(&self, values: &dyn SymbolLookup) -> Result<i64, EvalError> {
        eval::eval_expr(self, values)
    }
    /// Replaces symbols for which `f` returns `Some`, re-canonicalising the result.
    pub fn subst(&self, f: &dyn Fn(&str) -> Option<Expr>) -> Expr {
        let mut acc = Expr::int(self.constant);
        for term in &self.terms {
            let product = term
                .factors
                .iter()
                .fold(Expr::int(term.coeff), |p, factor| {
                    &p * &factor.atom.subst(f).pow(factor.power)
                });
            acc = &acc + &product;
        }
        acc
    }
    /// If `self == coeff * sym + rest` where `sym` occurs in neither `coeff` nor `rest`
    /// (in particular not inside a division, modulo, min or max), returns `(coeff, rest)`.
    /// A symbol that does not occur gives `(0, self)`.
    pub fn linear_in(&self, sym: &str) -> Option<(Expr, Expr)> {
        let mut coeff = Expr::int(0);
        let mut rest = Expr::int(self.constant);
        for term in &self.terms {
            let mut power = 0;
            let mut others = Vec::with_capacity(term.factors.len());
            for factor in &term.factors {
                match &factor.atom {
                    Atom::Sym(name) if name == sym => power = factor.power,
                    atom if atom.mentions(sym) => return None,
                    _ => others.push(factor.clone()),
                }
            }
            match power {
                0 => rest = &rest + &Expr::term(term.factors.clone(), term.coeff),
                1 => coeff = &coeff + &Expr::term(others, term.coeff),
                _ => return None,
            }
        }
        Some((coeff, rest))
    }
}

impl From<i64> for Expr {
    fn from(v: i64) -> Expr {
        Expr::int(v)
    }
}

/// Orders the operands of a commutative unfolded node, so that `a + b` and `b + a` agree.
fn sorted_pair(a: &Expr, b: &Expr) -> (Expr, Expr) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

impl std::ops::Add for &Expr {
    type Output = Expr;
    fn add(self, r: &Expr) -> Expr {
        poly::try_add(self, r).unwrap_or_else(|| {
            let (a, b) = sorted_pair(self, r);
            Expr::atom(Atom::Add(a, b))
        })
    }
}
impl std::ops::Sub for &Expr {
    type Output = Expr;
    fn sub(self, r: &Expr) -> Expr {
        poly::try_sub(self, r).unwrap_or_else(|| self + &-r)
    }
}
impl std::ops::Mul for &Expr {
    type Output = Expr;
    fn mul(self, r: &Expr) -> Expr {
        poly::try_mul(self, r).unwrap_or_else(|| {
            let (a, b) = sorted_pair(self, r);
            Expr::atom(Atom::Mul(a, b))
        })
    }
}
impl std::ops::Neg for &Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        self * &Expr::int(-1)
    }
}
impl std::ops::Add for Expr {
    type Output = Expr;
    fn add(self, r: Expr) -> Expr {
        &self + &r
    }
}
impl std::ops::Sub for Expr {
    type Output = Expr;
    fn sub(self, r: Expr) -> Expr {
        &self - &r
    }
}
impl std::ops::Mul for Expr {
    type Output = Expr;
    fn mul(self, r: Expr) -> Expr {
        &self * &r
    }
}
impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        -&self
    }
}
