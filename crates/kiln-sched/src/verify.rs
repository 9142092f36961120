//! A structural check of a [`Program`]: what both backends assume without checking.
//!
//! Run after scheduling (a scheduler bug is reported here, naming the kernel and instruction,
//! not discovered by a backend as an odd codegen error) and on every artifact load (an entry's
//! program is data from disk: the machine code next to it indexes buffers and the `syms` array
//! as the program says). It is on the cache-hit path, so it is one linear walk that allocates
//! nothing unless it fails (a few microseconds for the benchmark graphs).
//!
//! The rules: every buffer a kernel names is declared; inputs and outputs map one to one onto
//! their `Input(i)`/`Output(i)` buffers with the specs' dtypes; stores go to outputs and
//! temporaries only; a temporary is written by an earlier kernel before it is read; every
//! output is written; expressions use only the program's symbols and the loop variables in
//! scope (`%o*` in the kernel, `%r*` inside its reduction); SSA operands are defined before
//! use; dtypes agree (loads and stores with their buffer exactly; arithmetic up to the compute
//! type, since f16/bf16 values are computed in f32 and rounded by explicit casts: operands with
//! the instruction, binary operands with each other,
//! `where` with a bool condition, comparisons give bool); `reduced` appears only in the body
//! of a kernel with a reduction, whose accumulated value exists and whose accumulator is a
//! compute type; index widths are 32 or 64.
use kiln_ir::{DType, UnaryOp};
use kiln_shape::{Atom, Expr};

use crate::ir::*;

/// Why a program is malformed. Each names the kernel (or buffer, input, output) and the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{place}: buffer b{buf} is not declared ({count} buffers)")]
    UndeclaredBuffer {
        place: String,
        buf: BufId,
        count: usize,
    },
    #[error(
        "kernel `{kernel}`: stores to b{buf}, which is {kind} (only outputs and temporaries are written)"
    )]
    StoreToReadOnly {
        kernel: String,
        buf: BufId,
        kind: &'static str,
    },
    #[error("kernel `{kernel}` loads temporary b{buf} before any earlier kernel writes it")]
    ReadBeforeWrite { kernel: String, buf: BufId },
    #[error("output `{output}` (b{buf}) is never written by a kernel")]
    OutputNotWritten { output: String, buf: BufId },
    #[error("{what} {index} `{name}`: {problem}")]
    Interface {
        /// `input` or `output`.
        what: &'static str,
        index: usize,
        name: String,
        problem: String,
    },
    #[error("buffer b{buf}: {kind} {index} does not exist ({count} declared)")]
    BufferKind {
        buf: BufId,
        kind: &'static str,
        index: usize,
        count: usize,
    },
    #[error("{place}: `{symbol}` is not in scope in `{expr}` (in scope: {scope})")]
    OutOfScope {
        place: String,
        symbol: String,
        expr: String,
        scope: String,
    },
    #[error("kernel `{kernel}` {block} value {at}: operand {operand} is not defined before it")]
    UseBeforeDef {
        kernel: String,
        block: &'static str,
        at: usize,
        operand: ValueId,
    },
    #[error("kernel `{kernel}` {block} value {at}: {what} has dtype {found}, expected {expected}")]
    Dtype {
        kernel: String,
        block: &'static str,
        at: usize,
        what: &'static str,
        expected: DType,
        found: DType,
    },
    #[error(
        "kernel `{kernel}` {block} value {at}: `reduced` outside the body of a kernel with a reduction"
    )]
    MisplacedReduced {
        kernel: String,
        block: &'static str,
        at: usize,
    },
    #[error("kernel `{kernel}`: reduction {problem}")]
    Reduction { kernel: String, problem: String },
    #[error("kernel `{kernel}`: store {store} writes value {value}, but the body has {len} values")]
    StoreValue {
        kernel: String,
        store: usize,
        value: ValueId,
        len: usize,
    },
    #[error("kernel `{kernel}`: index width {bits} bits (expected 32 or 64)")]
    IndexBits { kernel: String, bits: u32 },
    #[error("launch steps: {problem}")]
    Steps { problem: String },
    #[error("library call `{call}`: {problem}")]
    Library { call: String, problem: String },
}

impl Program {
    /// Checks the rules in this module's documentation; the first violation is returned.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let symbols = self.symbols.as_slice();
        self.verify_interface()?;
        for (i, b) in self.buffers.iter().enumerate() {
            let scope = Scope::new(symbols, 0, 0);
            scope.check(&b.numel, || format!("buffer b{i} size"))?;
        }
        let mut written = vec![false; self.buffers.len()];
        let mut next_kernel = 0;
        for step in &self.steps {
            match step {
                Step::Kernel(i) => {
                    let k = self.step_kernel(*i, next_kernel)?;
                    next_kernel += 1;
                    self.verify_kernel(k, symbols, &written)?;
                    for s in &k.stores {
                        written[s.buf as usize] = true;
                    }
                }
                Step::Library(call) => {
                    self.verify_library(call, symbols, &written)?;
                    written[call.writes() as usize] = true;
                }
            }
        }
        if next_kernel != self.kernels.len() {
            return Err(VerifyError::Steps {
                problem: format!(
                    "{} of {} kernels are launched",
                    next_kernel,
                    self.kernels.len()
                ),
            });
        }
        for (spec, buf) in &self.outputs {
            if !written[*buf as usize] {
                return Err(VerifyError::OutputNotWritten {
                    output: spec.name.clone(),
                    buf: *buf,
                });
            }
        }
        Ok(())
    }

    /// Inputs and outputs map one to one onto their buffers, with the specs' dtypes.
    fn verify_interface(&self) -> Result<(), VerifyError> {
        let mut input_buf = vec![None; self.inputs.len()];
        let mut output_seen = vec![false; self.outputs.len()];
        for (i, b) in self.buffers.iter().enumerate() {
            let (kind, index, count) = match b.kind {
                BufKind::Input(k) => ("input", k, self.inputs.len()),
                BufKind::Output(k) => ("output", k, self.outputs.len()),
                BufKind::Temp | BufKind::Const(_) => continue,
            };
            let buf = i as BufId;
            if index >= count {
                return Err(VerifyError::BufferKind {
                    buf,
                    kind,
                    index,
                    count,
                });
            }
            let (name, dtype) = if kind == "input" {
                input_buf[index] = Some(buf);
                (&self.inputs[index].name, self.inputs[index].dtype)
            } else {
                output_seen[index] = true;
                (&self.outputs[index].0.name, self.outputs[index].0.dtype)
            };
            if b.dtype != dtype {
                return Err(interface(
                    kind,
                    index,
                    name,
                    format!("buffer b{buf} is {}, the spec says {dtype}", b.dtype),
                ));
            }
        }
        if let Some(i) = input_buf.iter().position(Option::is_none) {
            let problem = "has no input buffer".to_string();
            return Err(interface("input", i, &self.inputs[i].name, problem));
        }
        for (i, (spec, buf)) in self.outputs.iter().enumerate() {
            let kind = self.buffers.get(*buf as usize).map(|b| &b.kind);
            if kind != Some(&BufKind::Output(i)) || !output_seen[i] {
                let problem = format!("its buffer b{buf} is not declared as output {i}");
                return Err(interface("output", i, &spec.name, problem));
            }
        }
        Ok(())
    }

    fn verify_kernel(
        &self,
        k: &Kernel,
        symbols: &[String],
        written: &[bool],
    ) -> Result<(), VerifyError> {
        if k.index_bits != 32 && k.index_bits != 64 {
            return Err(VerifyError::IndexBits {
                kernel: k.name.clone(),
                bits: k.index_bits,
            });
        }
        let graph = Scope::new(symbols, 0, 0);
        for d in &k.dims {
            graph.check(d, || format!("kernel `{}` dims", k.name))?;
        }
        let outer = Scope::new(symbols, k.dims.len(), 0);
        let mut reduced = None;
        if let Some(r) = &k.reduce {
            let inner = Scope::new(symbols, k.dims.len(), r.dims.len());
            self.verify_reduction(k, r, &outer, &inner, written)?;
            reduced = Some(r.result_dtype());
        }
        let body = Block {
            kernel: &k.name,
            name: "body",
            reduced,
        };
        self.verify_instrs(&body, &k.body, &outer, written)?;
        for (i, s) in k.stores.iter().enumerate() {
            let place = || format!("kernel `{}` store {i}", k.name);
            let decl = self.buffer(s.buf, &place)?;
            let kind = match decl.kind {
                BufKind::Input(_) => Some("an input"),
                BufKind::Const(_) => Some("a constant"),
                BufKind::Output(_) | BufKind::Temp => None,
            };
            if let Some(kind) = kind {
                return Err(VerifyError::StoreToReadOnly {
                    kernel: k.name.clone(),
                    buf: s.buf,
                    kind,
                });
            }
            outer.check(&s.offset, place)?;
            let Some(v) = k.body.get(s.value as usize) else {
                return Err(VerifyError::StoreValue {
                    kernel: k.name.clone(),
                    store: i,
                    value: s.value,
                    len: k.body.len(),
                });
            };
            body.expect(s.value as usize, "the stored value", decl.dtype, v.dtype)?;
        }
        Ok(())
    }

    fn verify_reduction(
        &self,
        k: &Kernel,
        r: &Reduction,
        outer: &Scope,
        inner: &Scope,
        written: &[bool],
    ) -> Result<(), VerifyError> {
        let problem = |problem: String| VerifyError::Reduction {
            kernel: k.name.clone(),
            problem,
        };
        if r.acc != r.acc.compute() {
            return Err(problem(format!(
                "accumulates in {}, not a compute type",
                r.acc
            )));
        }
        if r.value as usize >= r.body.len() {
            let len = r.body.len();
            return Err(problem(format!("accumulates value {} of {len}", r.value)));
        }
        for d in &r.dims {
            outer.check(d, || format!("kernel `{}` reduction dims", k.name))?;
        }
        for c in &r.valid {
            for e in [c.lhs(), c.rhs()] {
                inner.check(e, || format!("kernel `{}` reduction condition", k.name))?;
            }
        }
        let block = Block {
            kernel: &k.name,
            name: "reduction",
            reduced: None,
        };
        self.verify_instrs(&block, &r.body, inner, written)
    }

    /// SSA order, dtypes and scopes of one instruction list.
    fn verify_instrs(
        &self,
        block: &Block,
        list: &[Instr],
        scope: &Scope,
        written: &[bool],
    ) -> Result<(), VerifyError> {
        for (at, ins) in list.iter().enumerate() {
            let operand = |v: ValueId| -> Result<DType, VerifyError> {
                list.get(..at)
                    .and_then(|defined| defined.get(v as usize))
                    .map(|i| i.dtype)
                    .ok_or_else(|| block.use_before_def(at, v))
            };
            let place = || format!("kernel `{}` {} value {at}", block.kernel, block.name);
            match &ins.op {
                ScalarOp::Load { buf, offset } => {
                    let decl = self.buffer(*buf, &place)?;
                    if decl.kind == BufKind::Temp && !written[*buf as usize] {
                        return Err(VerifyError::ReadBeforeWrite {
                            kernel: block.kernel.to_string(),
                            buf: *buf,
                        });
                    }
                    block.expect(at, "the load", decl.dtype, ins.dtype)?;
                    scope.check(offset, place)?;
                }
                ScalarOp::Const(_) => {}
                ScalarOp::Index(e) => scope.check(e, place)?,
                ScalarOp::Unary(op, a) => {
                    let a = operand(*a)?;
                    if *op != UnaryOp::LogicalNot {
                        block.expect(at, "the operand", ins.dtype.compute(), a.compute())?;
                    }
                }
                ScalarOp::Binary(op, a, b) => {
                    let (a, b) = (operand(*a)?, operand(*b)?);
                    block.expect(at, "the second operand", a.compute(), b.compute())?;
                    if op.is_comparison() {
                        block.expect(at, "a comparison", DType::Bool, ins.dtype)?;
                    }
                }
                ScalarOp::Select(c, a, b) => {
                    block.expect(at, "the condition", DType::Bool, operand(*c)?)?;
                    block.expect(
                        at,
                        "the first branch",
                        ins.dtype.compute(),
                        operand(*a)?.compute(),
                    )?;
                    block.expect(
                        at,
                        "the second branch",
                        ins.dtype.compute(),
                        operand(*b)?.compute(),
                    )?;
                }
                ScalarOp::Cast(a) => {
                    operand(*a)?;
                }
                ScalarOp::Reduced => match block.reduced {
                    Some(acc) => block.expect(at, "`reduced`", acc, ins.dtype)?,
                    None => {
                        return Err(VerifyError::MisplacedReduced {
                            kernel: block.kernel.to_string(),
                            block: block.name,
                            at,
                        });
                    }
                },
            }
        }
        Ok(())
    }

    fn buffer(&self, buf: BufId, place: &dyn Fn() -> String) -> Result<&BufferDecl, VerifyError> {
        self.buffers
            .get(buf as usize)
            .ok_or_else(|| VerifyError::UndeclaredBuffer {
                place: place(),
                buf,
                count: self.buffers.len(),
            })
    }
}

fn interface(what: &'static str, index: usize, name: &str, problem: String) -> VerifyError {
    VerifyError::Interface {
        what,
        index,
        name: name.to_string(),
        problem,
    }
}

/// An instruction list being checked: its kernel, its name in errors, and the accumulator's
/// dtype where `reduced` may be read.
struct Block<'a> {
    kernel: &'a str,
    name: &'static str,
    reduced: Option<DType>,
}

impl Block<'_> {
    fn expect(
        &self,
        at: usize,
        what: &'static str,
        expected: DType,
        found: DType,
    ) -> Result<(), VerifyError> {
        if expected == found {
            return Ok(());
        }
        Err(VerifyError::Dtype {
            kernel: self.kernel.to_string(),
            block: self.name,
            at,
            what,
            expected,
            found,
        })
    }

    fn use_before_def(&self, at: usize, operand: ValueId) -> VerifyError {
        VerifyError::UseBeforeDef {
            kernel: self.kernel.to_string(),
            block: self.name,
            at,
            operand,
        }
    }
}

/// The names an expression may use: the program's symbols, `%o0..%o{outer}` and
/// `%r0..%r{reduce}`.
pub(crate) struct Scope<'a> {
    symbols: &'a [String],
    outer: usize,
    reduce: usize,
}

/// The index of a loop variable `{prefix}{i}`, written without leading zeros.
fn var_index(name: &str, prefix: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    let canonical = digits == "0" || !digits.starts_with('0');
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (canonical && all_digits).then(|| digits.parse().ok())?
}

impl<'a> Scope<'a> {
    pub(crate) fn new(symbols: &'a [String], outer: usize, reduce: usize) -> Scope<'a> {
        Scope {
            symbols,
            outer,
            reduce,
        }
    }

    fn contains(&self, name: &str) -> bool {
        if is_loop_var(name) {
            var_index(name, "%o").is_some_and(|i| i < self.outer)
                || var_index(name, "%r").is_some_and(|i| i < self.reduce)
        } else {
            self.symbols.iter().any(|s| s == name)
        }
    }

    /// The first name of `e` out of scope, walking its atoms without collecting them.
    fn first_outside<'e>(&self, e: &'e Expr) -> Option<&'e str> {
        e.atoms().find_map(|a| match a {
            Atom::Sym(name) => (!self.contains(name)).then_some(name.as_str()),
            Atom::FloorDiv(x, y) | Atom::Mod(x, y) | Atom::Add(x, y) | Atom::Mul(x, y) => {
                self.first_outside(x).or_else(|| self.first_outside(y))
            }
            Atom::Min(args) | Atom::Max(args) => args.iter().find_map(|x| self.first_outside(x)),
        })
    }

    pub(crate) fn check(&self, e: &Expr, place: impl Fn() -> String) -> Result<(), VerifyError> {
        match self.first_outside(e) {
            None => Ok(()),
            Some(symbol) => Err(VerifyError::OutOfScope {
                place: place(),
                symbol: symbol.to_string(),
                expr: e.to_string(),
                scope: self.describe(),
            }),
        }
    }

    fn describe(&self) -> String {
        let mut names: Vec<String> = self.symbols.to_vec();
        names.extend((0..self.outer).map(outer_var));
        names.extend((0..self.reduce).map(reduce_var));
        if names.is_empty() {
            "no names".into()
        } else {
            names.join(", ")
        }
    }
}
