//! Integer index arithmetic: [`Expr`] and [`Cond`] to CLIF, in i64.
//!
//! Every index is computed in i64 whatever the kernel's `index_bits` says: on x86-64 and
//! aarch64 64-bit integer adds and multiplies cost the same as 32-bit ones, so the 32-bit
//! decision only matters to the CUDA backend. Division and modulo follow Python (floor)
//! semantics, since pooling windows start at `o*s - pad`, which may be negative.
//!
//! Emitted values are cached per *scope*: a scope is opened for a block that dominates the code
//! emitted until it is closed (entry, row, inner point, reduction element), so a cached value is
//! only reused where it is available.
//!
//! *Pinned* row values: the kernel names its fast variables (the inner loop variable and the
//! reduction variables); the terms of an expression that mention none of them (its *slow
//! terms*) are the same at every point of a row. The kernel computes such sums once per row and
//! carries them as block parameters of the row loop ([`IndexEmitter::pin`]); an expression
//! whose slow terms are pinned is emitted as the pinned value plus its fast terms. A block
//! parameter cannot be recomputed: Cranelift's egraph pass places pure instructions at their
//! uses, and it put the row's divisions by constant dims back into the innermost loops.
use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::FunctionBuilder;
use kiln_shape::{Atom, CmpOp, Cond, Expr, Factor};

use super::error::CodegenError;

/// Terms of an expression (coefficient, factors), its constant left out: the key of a pinned
/// sum.
pub(crate) type Terms = Vec<(i64, Vec<Factor>)>;

#[derive(Default)]
struct Scope {
    vars: HashMap<String, Value>,
    cache: HashMap<Expr, Value>,
    pinned: HashMap<Terms, Value>,
}

/// Emits integer expressions over named variables (loop variables and graph symbols).
pub(crate) struct IndexEmitter {
    scopes: Vec<Scope>,
    /// Variables that change inside a row: the inner loop variable and the reduction variables.
    fast: Vec<String>,
}

/// Whether `atom` mentions `name` anywhere (inside divisions, min and max included).
fn atom_mentions(atom: &Atom, name: &str) -> bool {
    match atom {
        Atom::Sym(s) => s == name,
        Atom::FloorDiv(a, b) | Atom::Mod(a, b) | Atom::Add(a, b) | Atom::Mul(a, b) => {
            a.mentions(name) || b.mentions(name)
        }
        Atom::Min(args) | Atom::Max(args) => args.iter().any(|a| a.mentions(name)),
    }
}

/// Whether a term's factors mention any of `names`.
pub(crate) fn factors_mention(factors: &[Factor], names: &[String]) -> bool {
    factors
        .iter()
        .any(|f| names.iter().any(|n| atom_mentions(f.atom(), n)))
}

impl IndexEmitter {
    pub fn new() -> Self {
        IndexEmitter {
            scopes: vec![Scope::default()],
            fast: vec![],
        }
    }

    /// Names the variables that change inside a row (see the module docs).
    pub fn set_fast_vars(&mut self, names: Vec<String>) {
        self.fast = names;
    }

    /// The terms of `e` that mention no fast variable, its constant left out.
    pub fn slow_terms(&self, e: &Expr) -> Terms {
        e.terms()
            .filter(|(_, factors)| !factors_mention(factors, &self.fast))
            .map(|(c, factors)| (c, factors.to_vec()))
            .collect()
    }

    /// Records `value` as the sum of `terms` in the innermost scope.
    pub fn pin(&mut self, terms: Terms, value: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.pinned.insert(terms, value);
        }
    }

    fn lookup_pinned(&self, terms: &Terms) -> Option<Value> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.pinned.get(terms).copied())
    }

    pub fn push(&mut self) {
        self.scopes.push(Scope::default());
    }

    pub fn pop(&mut self) {
        self.scopes.pop();
    }

    /// Binds `name` to `value` in the innermost scope.
    pub fn bind(&mut self, name: &str, value: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.vars.insert(name.to_string(), value);
        }
    }

    fn lookup_var(&self, name: &str) -> Option<Value> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.vars.get(name).copied())
    }

    fn lookup_cached(&self, e: &Expr) -> Option<Value> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.cache.get(e).copied())
    }

    /// `e` as an i64 value; an unbound symbol is an error naming it.
    pub fn expr(&mut self, b: &mut FunctionBuilder, e: &Expr) -> Result<Value, CodegenError> {
        if let Some(c) = e.as_int() {
            return Ok(b.ins().iconst(types::I64, c));
        }
        if let Some(v) = self.lookup_cached(e) {
            return Ok(v);
        }
        let slow = self.slow_terms(e);
        let pinned = if slow.is_empty() {
            None
        } else {
            self.lookup_pinned(&slow)
        };
        let mut acc = pinned;
        let terms: Vec<(i64, &[Factor])> = e
            .terms()
            .filter(|(_, factors)| pinned.is_none() || factors_mention(factors, &self.fast))
            .collect();
        if let Some(sum) = self.sum_terms(b, &terms)? {
            acc = Some(match acc {
                None => sum,
                Some(a) => b.ins().iadd(a, sum),
            });
        }
        let mut v = acc.unwrap_or_else(|| b.ins().iconst(types::I64, 0));
        if e.constant_term() != 0 {
            v = b.ins().iadd_imm_s(v, e.constant_term());
        }
        if let Some(s) = self.scopes.last_mut() {
            s.cache.insert(e.clone(), v);
        }
        Ok(v)
    }

    /// The sum of `terms` (no constant), or `None` when there are none.
    pub fn sum_terms(
        &mut self,
        b: &mut FunctionBuilder,
        terms: &[(i64, &[Factor])],
    ) -> Result<Option<Value>, CodegenError> {
        let mut acc: Option<Value> = None;
        for &(coeff, factors) in terms {
            let mut prod: Option<Value> = None;
            for f in factors {
                let base = self.atom(b, f.atom())?;
                for _ in 0..f.power() {
                    prod = Some(match prod {
                        None => base,
                        Some(p) => b.ins().imul(p, base),
                    });
                }
            }
            let mut term = prod.unwrap_or_else(|| b.ins().iconst(types::I64, 1));
            if coeff != 1 {
                term = b.ins().imul_imm_s(term, coeff);
            }
            acc = Some(match acc {
                None => term,
                Some(a) => b.ins().iadd(a, term),
            });
        }
        Ok(acc)
    }

    fn atom(&mut self, b: &mut FunctionBuilder, a: &Atom) -> Result<Value, CodegenError> {
        Ok(match a {
            Atom::Sym(name) => {
                self.lookup_var(name)
                    .ok_or_else(|| CodegenError::UnboundSymbol {
                        name: name.to_string(),
                    })?
            }
            Atom::FloorDiv(x, y) => {
                let (x, y) = (self.expr(b, x)?, self.expr(b, y)?);
                floor_div(b, x, y)
            }
            Atom::Mod(x, y) => {
                let (x, y) = (self.expr(b, x)?, self.expr(b, y)?);
                python_mod(b, x, y)
            }
            Atom::Min(args) | Atom::Max(args) => {
                let is_min = matches!(a, Atom::Min(_));
                let mut acc: Option<Value> = None;
                for arg in args {
                    let v = self.expr(b, arg)?;
                    acc = Some(match acc {
                        None => v,
                        Some(p) if is_min => b.ins().smin(p, v),
                        Some(p) => b.ins().smax(p, v),
                    });
                }
                acc.ok_or(CodegenError::EmptyMinMax)?
            }
            Atom::Add(x, y) => {
                let (x, y) = (self.expr(b, x)?, self.expr(b, y)?);
                b.ins().iadd(x, y)
            }
            Atom::Mul(x, y) => {
                let (x, y) = (self.expr(b, x)?, self.expr(b, y)?);
                b.ins().imul(x, y)
            }
        })
    }

    /// `c` as an i8 truth value (1 or 0).
    pub fn cond(&mut self, b: &mut FunctionBuilder, c: &Cond) -> Result<Value, CodegenError> {
        let (l, r) = (self.expr(b, c.lhs())?, self.expr(b, c.rhs())?);
        let cc = match c.op() {
            CmpOp::Eq => IntCC::Equal,
            CmpOp::Ne => IntCC::NotEqual,
            CmpOp::Lt => IntCC::SignedLessThan,
            CmpOp::Le => IntCC::SignedLessThanOrEqual,
            CmpOp::Gt => IntCC::SignedGreaterThan,
            CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
        };
        Ok(b.ins().icmp(cc, l, r))
    }
}

/// A divisor that is never zero: a zero divisor becomes 1 instead of trapping. The programs
/// the scheduler emits only divide by positive sizes; this keeps a malformed one from crashing.
fn safe_divisor(b: &mut FunctionBuilder, y: Value) -> Value {
    let one = b.ins().iconst(types::I64, 1);
    let is_zero = b.ins().icmp_imm_s(IntCC::Equal, y, 0);
    b.ins().select(is_zero, one, y)
}

/// Python's `x // y`: truncating division, minus one when the remainder's sign differs from
/// the divisor's.
pub(crate) fn floor_div(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let y = safe_divisor(b, y);
    let q = b.ins().sdiv(x, y);
    let r = b.ins().srem(x, y);
    let nonzero = b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
    let signs = b.ins().bxor(r, y);
    let differ = b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
    let adjust = b.ins().band(nonzero, differ);
    let adjust = b.ins().uextend(types::I64, adjust);
    b.ins().isub(q, adjust)
}

/// Python's `x % y`: the remainder takes the divisor's sign.
pub(crate) fn python_mod(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let y = safe_divisor(b, y);
    let r = b.ins().srem(x, y);
    let nonzero = b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
    let signs = b.ins().bxor(r, y);
    let differ = b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
    let adjust = b.ins().band(nonzero, differ);
    let fixed = b.ins().iadd(r, y);
    b.ins().select(adjust, fixed, r)
}
