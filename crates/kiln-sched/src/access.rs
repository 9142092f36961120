//! Access ranges: a proof, at one launch's symbol values, that every load and store of every
//! kernel stays inside its buffer.
//!
//! A program's guards are what made its index arithmetic correct when it was compiled; a
//! program read back from a cache entry may carry weakened or wrong guards (a corrupted or
//! hand-edited entry), and then its kernels would index past their buffers. So before any
//! kernel runs, the launcher asks [`Program::check_accesses`]: each offset expression is bounded
//! by interval arithmetic over its loop variables' ranges (`0..dim`) with the symbols fixed to
//! the launch's values, and must lie in `0..numel` of its buffer. Reduction elements that run
//! only where `valid` conditions hold (pooling's padding, adaptive windows) are bounded with
//! those conditions: an offset `λ·g + rest`, where a condition bounds `g`, is bounded by
//! `λ·range(g) + bounds(rest)`, intersected with the plain bound (both hold on every executed
//! element). 32-bit kernels must also index buffers and iteration spaces below 2^31.
//!
//! The result depends only on the symbol values, so [`AccessCheck`] remembers the values it
//! proved and the steady-state launch pays one comparison.
use std::sync::Mutex;

use kiln_shape::{Bindings, CmpOp, Cond, Expr, ShapeEnv, ValueRange};

use crate::ir::{BufId, BufKind, Kernel, Program, is_loop_var, outer_var, reduce_var};

/// Why a program may not run at these sizes. Checked before any kernel runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the launch gives {found} symbol values, the program reads {expected}")]
    SymbolCount { expected: usize, found: usize },
    #[error("`{expr}` cannot be evaluated at the launch's sizes: {msg}")]
    Eval { expr: String, msg: String },
    #[error("buffer {buf} has {numel} elements, not a valid size")]
    BadSize { buf: BufId, numel: i64 },
    #[error("kernel `{kernel}` accesses buffer {buf}, which the program does not declare")]
    UnknownBuffer { kernel: String, buf: BufId },
    #[error("kernel `{kernel}` stores to buffer {buf}, an input or constant")]
    ReadOnlyStore { kernel: String, buf: BufId },
    #[error(
        "kernel `{kernel}`: {what} of buffer {buf} at `{offset}` may reach elements {lo}..={hi}, \
         but the buffer has {numel}"
    )]
    OutOfBounds {
        kernel: String,
        what: &'static str,
        buf: BufId,
        offset: String,
        lo: i64,
        hi: i64,
        numel: i64,
    },
    #[error("library call `{call}`: {msg}")]
    Library { call: String, msg: String },
    #[error("kernel `{kernel}` indexes with 32 bits, but {what} has {extent} elements")]
    IndexWidth {
        kernel: String,
        what: String,
        extent: i64,
    },
}

/// The largest extent a 32-bit kernel may index (the default index limit is 2^31).
const INDEX32_MAX: i64 = i32::MAX as i64;

impl Program {
    /// Checks that at these symbol values (in the order of [`Program::symbols`]) every access
    /// of every kernel lies inside its buffer, whose size is its `numel` at these values (the
    /// launcher checks separately that the memory behind each buffer is at least that large).
    pub fn check_accesses(&self, syms: &[i64]) -> Result<(), AccessError> {
        if syms.len() != self.symbols.len() {
            return Err(AccessError::SymbolCount {
                expected: self.symbols.len(),
                found: syms.len(),
            });
        }
        // The symbols as one-point ranges: bounds then treat them as the constants they are at
        // this launch, without rewriting every offset.
        let mut values = Bindings::new();
        let mut env = ShapeEnv::new();
        for (name, &v) in self.symbols.iter().zip(syms) {
            if is_loop_var(name) {
                return Err(AccessError::Eval {
                    expr: name.clone(),
                    msg: "a program symbol may not be named like a loop variable".to_string(),
                });
            }
            values.insert(name, v);
            env.create_symbol(name, v, ValueRange::new(v, v))
                .map_err(|e| AccessError::Eval {
                    expr: name.clone(),
                    msg: e.to_string(),
                })?;
        }
        let numels = self
            .buffers
            .iter()
            .enumerate()
            .map(|(i, decl)| {
                let numel = eval(&decl.numel, &values)?;
                let held = match &decl.kind {
                    BufKind::Const(data) => (data.len() / decl.dtype.size().max(1)) as i64,
                    _ => numel,
                };
                if numel < 0 {
                    return Err(AccessError::BadSize {
                        buf: i as BufId,
                        numel,
                    });
                }
                Ok(numel.min(held))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        for kernel in &self.kernels {
            KernelCheck {
                program: self,
                kernel,
                values: &values,
                numels: &numels,
                env: env.clone(),
            }
            .run()?;
        }
        for call in self.library_calls() {
            call.launch(&values, &numels)?;
        }
        Ok(())
    }
}

/// The symbol values a program was proved safe at: a launch at known values skips the proof.
#[derive(Debug, Default)]
pub struct AccessCheck {
    proved: Mutex<Vec<Vec<i64>>>,
    /// The digest of the bytes the program was decoded from: proofs are shared with
    /// byte-identical programs of this process (see `access_memo.rs`).
    digest: Option<crate::access_memo::ArtifactDigest>,
}

/// How many distinct symbol values [`AccessCheck`] remembers (a dynamic program called with a
/// few shapes in turn stays on the fast path).
const REMEMBERED: usize = 16;

impl AccessCheck {
    pub fn new() -> AccessCheck {
        AccessCheck::default()
    }

    /// An `AccessCheck` for a program decoded from (or encoded to) bytes with this SHA-256
    /// digest, sharing its proofs with every other such program in the process.
    pub fn for_digest(digest: crate::access_memo::ArtifactDigest) -> AccessCheck {
        AccessCheck {
            digest: Some(digest),
            ..AccessCheck::default()
        }
    }

    /// [`Program::check_accesses`], skipped for symbol values already proved for `program`
    /// (an `AccessCheck` belongs to one program).
    pub fn ensure(&self, program: &Program, syms: &[i64]) -> Result<(), AccessError> {
        let mut proved = self.proved.lock().unwrap_or_else(|p| p.into_inner());
        if proved.iter().any(|p| p.as_slice() == syms) {
            return Ok(());
        }
        let shared = self.digest.as_ref();
        if !shared.is_some_and(|d| crate::access_memo::was_proved(d, syms)) {
            program.check_accesses(syms)?;
            if let Some(d) = shared {
                crate::access_memo::record_proof(d, syms);
            }
        }
        if proved.len() >= REMEMBERED {
            proved.remove(0);
        }
        proved.push(syms.to_vec());
        Ok(())
    }
}

fn eval(e: &Expr, values: &Bindings) -> Result<i64, AccessError> {
    e.eval(values).map_err(|err| AccessError::Eval {
        expr: e.to_string(),
        msg: err.to_string(),
    })
}

/// One kernel's accesses at fixed symbol values.
struct KernelCheck<'a> {
    program: &'a Program,
    kernel: &'a Kernel,
    values: &'a Bindings,
    numels: &'a [i64],
    /// The symbols (one-point ranges) and the loop variables with their ranges.
    env: ShapeEnv,
}

impl KernelCheck<'_> {
    /// Adds loop variables for `dims`; false when a trip count is not positive (the loop, and
    /// everything inside it, does not run: the launcher skips an empty iteration space).
    fn add_loops(&mut self, dims: &[Expr], name: fn(usize) -> String) -> Result<bool, AccessError> {
        let mut points: i64 = 1;
        for (i, d) in dims.iter().enumerate() {
            let n = eval(d, self.values)?;
            if n <= 0 {
                return Ok(false);
            }
            points = points.saturating_mul(n);
            let range = ValueRange::new(0, n - 1);
            self.env
                .create_symbol(&name(i), 0, range)
                .map_err(|e| AccessError::Eval {
                    expr: d.to_string(),
                    msg: e.to_string(),
                })?;
        }
        if self.kernel.index_bits == 32 && points > INDEX32_MAX {
            return Err(self.too_wide("its iteration space".to_string(), points));
        }
        Ok(true)
    }

    fn too_wide(&self, what: String, extent: i64) -> AccessError {
        AccessError::IndexWidth {
            kernel: self.kernel.name.clone(),
            what,
            extent,
        }
    }

    fn run(mut self) -> Result<(), AccessError> {
        if !self.add_loops(&self.kernel.dims, outer_var)? {
            return Ok(());
        }
        let kernel = self.kernel;
        for store in &kernel.stores {
            match self
                .program
                .buffers
                .get(store.buf as usize)
                .map(|d| &d.kind)
            {
                Some(BufKind::Output(_) | BufKind::Temp) => {}
                Some(_) => {
                    return Err(AccessError::ReadOnlyStore {
                        kernel: kernel.name.clone(),
                        buf: store.buf,
                    });
                }
                None => {}
            }
            self.access("store", store.buf, &store.offset, &[])?;
        }
        for (buf, offset) in kernel.body.iter().filter_map(load_of) {
            self.access("load", buf, offset, &[])?;
        }
        if let Some(red) = &kernel.reduce
            && self.add_loops(&red.dims, reduce_var)?
        {
            let conds = red
                .valid
                .iter()
                .map(|c| self.concrete_cond(c))
                .collect::<Result<Vec<_>, _>>()?;
            let windows = merge_windows(&self.env, conds.into_iter().flatten());
            for (buf, offset) in red.body.iter().filter_map(load_of) {
                self.access("load", buf, offset, &windows)?;
            }
        }
        Ok(())
    }

    /// `e` with the symbols replaced by their values; an unknown symbol is an error (kernels
    /// only receive the program's symbols).
    fn concrete(&self, e: &Expr) -> Result<Expr, AccessError> {
        for s in e.symbols() {
            let known = if is_loop_var(&s) {
                self.env.symbol(&s).is_some()
            } else {
                self.values.get(&s).is_some()
            };
            if !known {
                return Err(AccessError::Eval {
                    expr: e.to_string(),
                    msg: format!("`{s}` is not bound in kernel `{}`", self.kernel.name),
                });
            }
        }
        Ok(e.subst(&|s| self.values.get(s).map(Expr::int)))
    }

    /// A validity condition as `g` and the range it gives `g` (`g` the condition's expression
    /// without its constant); `None` for conditions that bound nothing (`!=`).
    fn concrete_cond(&self, c: &Cond) -> Result<Option<(Expr, i128, i128)>, AccessError> {
        let f = self.concrete(&(c.lhs() - c.rhs()))?;
        let g = f.without_constant();
        let c0 = i128::from(f.constant_term());
        let (lo, hi) = (i128::from(i64::MIN), i128::from(i64::MAX));
        // f = g + c0 compared with 0.
        let range = match c.op() {
            CmpOp::Ge => (-c0, hi),
            CmpOp::Gt => (1 - c0, hi),
            CmpOp::Le => (lo, -c0),
            CmpOp::Lt => (lo, -1 - c0),
            CmpOp::Eq => (-c0, -c0),
            CmpOp::Ne => return Ok(None),
        };
        Ok(Some((g, range.0, range.1)))
    }

    /// Checks one access: its offset's range lies in `0..numel` of `buf`.
    fn access(
        &self,
        what: &'static str,
        buf: BufId,
        offset: &Expr,
        windows: &[(Expr, i128, i128)],
    ) -> Result<(), AccessError> {
        let kernel = &self.kernel.name;
        let Some(&numel) = self.numels.get(buf as usize) else {
            return Err(AccessError::UnknownBuffer {
                kernel: kernel.clone(),
                buf,
            });
        };
        if self.kernel.index_bits == 32 && numel > INDEX32_MAX {
            return Err(self.too_wide(format!("buffer {buf}"), numel));
        }
        // An unknown symbol has no range: its bounds are all of i64, refused below.
        let plain = self.env.bounds(offset);
        let (mut lo, mut hi) = (i128::from(plain.lo), i128::from(plain.hi));
        let inside = |lo: i128, hi: i128| lo >= 0 && hi < i128::from(numel);
        if !inside(lo, hi) {
            // With the symbols' values substituted, like terms merge into integer coefficients
            // per loop variable (`%o0*C - %o0*C*((H + 1)//2)` becomes one term), which bounds
            // an offset over derived dims exactly where the term-by-term bound is loose.
            let e = self.concrete(offset)?;
            let merged = self.env.bounds(&e);
            lo = lo.max(i128::from(merged.lo));
            hi = hi.min(i128::from(merged.hi));
            // The windows only tighten a bound that is still outside the buffer.
            if !windows.is_empty() && !inside(lo, hi) {
                let (wlo, whi) = bound_in_windows(&self.env, &e, windows);
                lo = lo.max(wlo);
                hi = hi.min(whi);
            }
        }
        // lo > hi: no element that runs reaches this access.
        if lo <= hi && !inside(lo, hi) {
            let clamp =
                |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
            return Err(AccessError::OutOfBounds {
                kernel: kernel.clone(),
                what,
                buf,
                offset: offset.to_string(),
                lo: clamp(lo),
                hi: clamp(hi),
                numel,
            });
        }
        Ok(())
    }
}

fn load_of(i: &crate::ir::Instr) -> Option<(BufId, &Expr)> {
    match &i.op {
        crate::ir::ScalarOp::Load { buf, offset } => Some((*buf, offset)),
        _ => None,
    }
}

/// Conditions on the same expression (`i >= 0` and `i < H` both bound `i`) merged into one
/// range, intersected with the expression's own bounds over the loops.
fn merge_windows(
    env: &ShapeEnv,
    conds: impl Iterator<Item = (Expr, i128, i128)>,
) -> Vec<(Expr, i128, i128)> {
    let mut merged: Vec<(Expr, i128, i128)> = Vec::new();
    for (g, lo, hi) in conds.map(|(g, lo, hi)| without_content(g, lo, hi)) {
        if g.is_const() {
            continue;
        }
        match merged.iter_mut().find(|(m, ..)| *m == g) {
            Some(m) => {
                m.1 = m.1.max(lo);
                m.2 = m.2.min(hi);
            }
            None => {
                let b = env.bounds(&g);
                merged.push((g, lo.max(b.lo.into()), hi.min(b.hi.into())));
            }
        }
    }
    merged
}

/// `g ∈ [lo, hi]` as `g' ∈ [⌈lo/c⌉, ⌊hi/c⌋]` with `g = c·g'` and `c` the gcd of `g`'s
/// coefficients (sound: `g'` is an integer). A dilated window's two conditions bound multiples
/// of one expression (`%o1 + %r0 >= 1` and `2*%o1 + 2*%r0 < H + 1`): divided by their content
/// they are the same `g'` and merge into one two-sided range.
fn without_content(g: Expr, lo: i128, hi: i128) -> (Expr, i128, i128) {
    let c = g
        .terms()
        .fold(0u64, |acc, (k, _)| gcd(acc, k.unsigned_abs()));
    let Ok(c) = i64::try_from(c) else {
        return (g, lo, hi);
    };
    if c <= 1 {
        return (g, lo, hi);
    }
    match g.divide_exact(c) {
        Some(reduced) => {
            let c = i128::from(c);
            // Floor and ceiling division for a positive divisor.
            (reduced, -((-lo).div_euclid(c)), hi.div_euclid(c))
        }
        None => (g, lo, hi),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Bounds `e` over the elements where every window holds: each window expression `g` found in
/// `e` as `λ·g` (matched on a loop variable both are linear in) is taken out and bounded by its
/// window; the rest by interval arithmetic. Sound whatever is matched, tight for pooling.
fn bound_in_windows(env: &ShapeEnv, e: &Expr, windows: &[(Expr, i128, i128)]) -> (i128, i128) {
    let mut rest = e.clone();
    let (mut lo, mut hi) = (0i128, 0i128);
    for (g, glo, ghi) in windows {
        if glo > ghi {
            // No element satisfies the window: nothing below runs.
            return (1, 0);
        }
        let Some(lambda) = multiple_of(&rest, g) else {
            continue;
        };
        rest = &rest - &(&Expr::int(lambda) * g);
        let (a, b) = (glo * i128::from(lambda), ghi * i128::from(lambda));
        lo = lo.saturating_add(a.min(b));
        hi = hi.saturating_add(a.max(b));
    }
    let r = env.bounds(&rest);
    (
        lo.saturating_add(r.lo.into()),
        hi.saturating_add(r.hi.into()),
    )
}

/// `λ` such that `e` contains `λ·g`, judged on the first loop variable both are linear in with
/// integer coefficients (`λ` = ratio of the coefficients, when exact and non-zero).
fn multiple_of(e: &Expr, g: &Expr) -> Option<i64> {
    g.symbols().iter().find_map(|v| {
        let cg = g.linear_in(v)?.0.as_int().filter(|c| *c != 0)?;
        let ce = e.linear_in(v)?.0.as_int().filter(|c| *c != 0)?;
        (ce.checked_rem(cg)? == 0)
            .then(|| ce.checked_div(cg))
            .flatten()
    })
}
