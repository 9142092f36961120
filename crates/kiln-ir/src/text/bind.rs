//! Binds a call's arguments to an op's parameters, Python style, and reads them as typed values.
//!
//! Every error names the node being defined and the argument, and points at the argument.
use kiln_shape::Dim;

use super::args::{Arg, ArgKind, CallArg};
use super::lexer::parse_error;
use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::Operand;

/// An op's parameters in positional order; the first `required` ones have no default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signature {
    pub params: &'static [&'static str],
    pub required: usize,
}

/// Which node and op the arguments belong to, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSite<'a> {
    pub node: &'a str,
    pub op: &'a str,
    /// Position of the op name, where "missing argument" errors point.
    pub line: usize,
    pub col: usize,
}

/// The arguments of one call, one slot per parameter.
pub(crate) struct Bound<'a> {
    pub site: CallSite<'a>,
    sig: Signature,
    slots: Vec<Option<Arg>>,
}

pub(crate) fn bind<'a>(
    site: CallSite<'a>,
    sig: Signature,
    args: Vec<CallArg>,
) -> Result<Bound<'a>, IrError> {
    let node = site.node;
    let op = site.op;
    let mut slots: Vec<Option<Arg>> = vec![None; sig.params.len()];
    let mut seen_keyword = false;
    for (position, arg) in args.into_iter().enumerate() {
        let value = arg.value;
        let slot = match arg.keyword {
            None => {
                if seen_keyword {
                    return Err(parse_error(
                        value.line,
                        value.col,
                        format!("node '{node}': positional argument follows keyword argument"),
                    ));
                }
                if position >= sig.params.len() {
                    return Err(parse_error(
                        value.line,
                        value.col,
                        format!(
                            "node '{node}': {op} takes at most {} argument{} ({}), found more",
                            sig.params.len(),
                            if sig.params.len() == 1 { "" } else { "s" },
                            sig.params.join(", ")
                        ),
                    ));
                }
                position
            }
            Some((keyword, col)) => {
                seen_keyword = true;
                let Some(slot) = sig.params.iter().position(|p| *p == keyword) else {
                    return Err(parse_error(
                        value.line,
                        col,
                        format!(
                            "node '{node}': {op} has no argument '{keyword}' (it takes {})",
                            sig.params.join(", ")
                        ),
                    ));
                };
                if slots[slot].is_some() {
                    return Err(parse_error(
                        value.line,
                        col,
                        format!("node '{node}': argument '{keyword}' of {op} is given twice"),
                    ));
                }
                slot
            }
        };
        slots[slot] = Some(value);
    }
    if let Some(missing) = (0..sig.required).find(|&i| slots[i].is_none()) {
        return Err(parse_error(
            site.line,
            site.col,
            format!(
                "node '{node}': {op} is missing required argument '{}'",
                sig.params[missing]
            ),
        ));
    }
    Ok(Bound { site, sig, slots })
}

fn is_none(arg: &Arg) -> bool {
    matches!(&arg.kind, ArgKind::Name(n) if n == "None")
}

impl Bound<'_> {
    /// The argument bound to `param`; `None` when omitted or written `None`.
    fn get(&self, param: &str) -> Option<&Arg> {
        let i = self.sig.params.iter().position(|p| *p == param)?;
        self.slots[i].as_ref().filter(|a| !is_none(a))
    }

    fn mismatch(&self, param: &str, arg: &Arg, expects: &str) -> IrError {
        parse_error(
            arg.line,
            arg.col,
            format!(
                "node '{}' ({}): argument '{param}' expects {expects}, found {arg}",
                self.site.node, self.site.op
            ),
        )
    }

    /// A required argument (the binder already checked that it was given, but it may be `None`).
    fn require(&self, param: &str, expects: &str) -> Result<&Arg, IrError> {
        let i = self.sig.params.iter().position(|p| *p == param);
        match i.and_then(|i| self.slots[i].as_ref()) {
            Some(arg) if is_none(arg) => Err(self.mismatch(param, arg, expects)),
            Some(arg) => Ok(arg),
            None => Err(parse_error(
                self.site.line,
                self.site.col,
                format!(
                    "node '{}': {} is missing required argument '{param}'",
                    self.site.node, self.site.op
                ),
            )),
        }
    }

    fn lookup(&self, g: &Graph, name: &str, arg: &Arg) -> Result<NodeId, IrError> {
        g.find(name).ok_or_else(|| {
            parse_error(
                arg.line,
                arg.col,
                format!("node '{}': unknown value '{name}'", self.site.node),
            )
        })
    }

    /// A graph value, by name.
    pub(crate) fn value(&self, g: &Graph, param: &str) -> Result<NodeId, IrError> {
        let arg = self.require(param, "a value name")?;
        match &arg.kind {
            ArgKind::Name(n) => self.lookup(g, n, arg),
            _ => Err(self.mismatch(param, arg, "a value name")),
        }
    }

    /// A graph value or a scalar literal.
    pub(crate) fn operand(&self, g: &Graph, param: &str) -> Result<Operand, IrError> {
        const EXPECTS: &str = "a value name or a number";
        let arg = self.require(param, EXPECTS)?;
        match &arg.kind {
            ArgKind::Name(n) => Ok(Operand::Value(self.lookup(g, n, arg)?)),
            ArgKind::Int(v) => Ok(Operand::Scalar(*v as f64)),
            ArgKind::Float(v) => Ok(Operand::Scalar(*v)),
            _ => Err(self.mismatch(param, arg, EXPECTS)),
        }
    }

    /// A graph value by name; `None` when omitted or written `None` (linear's bias).
    pub(crate) fn opt_value(&self, g: &Graph, param: &str) -> Result<Option<NodeId>, IrError> {
        match self.get(param) {
            None => Ok(None),
            Some(arg) => match &arg.kind {
                ArgKind::Name(n) => self.lookup(g, n, arg).map(Some),
                _ => Err(self.mismatch(param, arg, "a value name or None")),
            },
        }
    }

    /// A number literal (int or float), `default` when omitted (addmm's `beta`, `alpha`).
    pub(crate) fn number_or(&self, param: &str, default: f64) -> Result<f64, IrError> {
        match self.get(param) {
            None => Ok(default),
            Some(arg) => match arg.kind {
                ArgKind::Int(v) => Ok(v as f64),
                ArgKind::Float(v) => Ok(v),
                _ => Err(self.mismatch(param, arg, "a number")),
            },
        }
    }

    fn as_int(&self, param: &str, arg: &Arg, expects: &str) -> Result<i64, IrError> {
        match arg.kind {
            ArgKind::Int(v) => Ok(v),
            _ => Err(self.mismatch(param, arg, expects)),
        }
    }

    pub(crate) fn int(&self, param: &str) -> Result<i64, IrError> {
        let arg = self.require(param, "an integer")?;
        self.as_int(param, arg, "an integer")
    }

    pub(crate) fn opt_int(&self, param: &str) -> Result<Option<i64>, IrError> {
        self.get(param)
            .map(|arg| self.as_int(param, arg, "an integer or None"))
            .transpose()
    }

    /// `squeeze`'s dims: omitted or `None` (every size-1 dim), an int, or a list of ints.
    pub(crate) fn opt_dims(&self, param: &str) -> Result<Option<Vec<i64>>, IrError> {
        const EXPECTS: &str = "an integer, a list of integers or None";
        let Some(arg) = self.get(param) else {
            return Ok(None);
        };
        match &arg.kind {
            ArgKind::Int(v) => Ok(Some(vec![*v])),
            ArgKind::List(items) => items
                .iter()
                .map(|item| self.as_int(param, item, EXPECTS))
                .collect::<Result<_, _>>()
                .map(Some),
            _ => Err(self.mismatch(param, arg, EXPECTS)),
        }
    }

    pub(crate) fn bool_or(&self, param: &str, default: bool) -> Result<bool, IrError> {
        match self.get(param) {
            None => Ok(default),
            Some(arg) => match &arg.kind {
                ArgKind::Name(n) if n == "true" => Ok(true),
                ArgKind::Name(n) if n == "false" => Ok(false),
                _ => Err(self.mismatch(param, arg, "true or false")),
            },
        }
    }

    pub(crate) fn string_or<'s>(
        &'s self,
        param: &str,
        default: &'s str,
    ) -> Result<&'s str, IrError> {
        match self.get(param) {
            None => Ok(default),
            Some(arg) => match &arg.kind {
                ArgKind::Str(s) => Ok(s),
                _ => Err(self.mismatch(param, arg, "a string")),
            },
        }
    }

    pub(crate) fn dtype(&self, param: &str) -> Result<DType, IrError> {
        const EXPECTS: &str = "a dtype (f32, f64, f16, bf16 or bool)";
        let arg = self.require(param, EXPECTS)?;
        self.as_dtype(param, arg, EXPECTS)
    }

    pub(crate) fn dtype_or(&self, param: &str, default: DType) -> Result<DType, IrError> {
        const EXPECTS: &str = "a dtype (f32, f64, f16, bf16 or bool)";
        match self.get(param) {
            None => Ok(default),
            Some(arg) => self.as_dtype(param, arg, EXPECTS),
        }
    }

    fn as_dtype(&self, param: &str, arg: &Arg, expects: &str) -> Result<DType, IrError> {
        match &arg.kind {
            ArgKind::Name(n) => DType::parse(n).ok_or_else(|| self.mismatch(param, arg, expects)),
            _ => Err(self.mismatch(param, arg, expects)),
        }
    }

    /// An int `k` (meaning `[k, k]`) or a list of two ints; `None` when omitted.
    pub(crate) fn opt_pair(&self, param: &str) -> Result<Option<[i64; 2]>, IrError> {
        const EXPECTS: &str = "an integer or a list of 2 integers";
        let Some(arg) = self.get(param) else {
            return Ok(None);
        };
        match &arg.kind {
            ArgKind::Int(v) => Ok(Some([*v, *v])),
            ArgKind::List(items) if items.len() == 2 => Ok(Some([
                self.as_int(param, &items[0], EXPECTS)?,
                self.as_int(param, &items[1], EXPECTS)?,
            ])),
            _ => Err(self.mismatch(param, arg, EXPECTS)),
        }
    }

    pub(crate) fn pair(&self, param: &str) -> Result<[i64; 2], IrError> {
        let arg = self.require(param, "an integer or a list of 2 integers")?;
        match self.opt_pair(param)? {
            Some(p) => Ok(p),
            None => Err(self.mismatch(param, arg, "an integer or a list of 2 integers")),
        }
    }

    pub(crate) fn int_list(&self, param: &str) -> Result<Vec<i64>, IrError> {
        const EXPECTS: &str = "a list of integers";
        let arg = self.require(param, EXPECTS)?;
        match &arg.kind {
            ArgKind::List(items) => items
                .iter()
                .map(|item| self.as_int(param, item, EXPECTS))
                .collect(),
            _ => Err(self.mismatch(param, arg, EXPECTS)),
        }
    }

    pub(crate) fn opt_int_list(&self, param: &str) -> Result<Option<Vec<i64>>, IrError> {
        if self.get(param).is_none() {
            return Ok(None);
        }
        self.int_list(param).map(Some)
    }

    /// Reduction dims: an int, a list of ints, or omitted/`None`/`[]` for all dims (empty).
    pub(crate) fn reduce_dims(&self, param: &str) -> Result<Vec<i64>, IrError> {
        const EXPECTS: &str = "an integer, a list of integers or None";
        let Some(arg) = self.get(param) else {
            return Ok(Vec::new());
        };
        match &arg.kind {
            ArgKind::Int(v) => Ok(vec![*v]),
            ArgKind::List(items) => items
                .iter()
                .map(|item| self.as_int(param, item, EXPECTS))
                .collect(),
            _ => Err(self.mismatch(param, arg, EXPECTS)),
        }
    }

    /// A list of sizes: integers or symbol names.
    pub(crate) fn sizes(&self, param: &str) -> Result<Vec<Dim>, IrError> {
        const EXPECTS: &str = "a list of integers and symbol names";
        let arg = self.require(param, EXPECTS)?;
        let ArgKind::List(items) = &arg.kind else {
            return Err(self.mismatch(param, arg, EXPECTS));
        };
        items
            .iter()
            .map(|item| match &item.kind {
                ArgKind::Int(v) => Ok(Dim::Fixed(*v)),
                ArgKind::Name(n) if !super::is_reserved(n) => Ok(Dim::Sym(n.clone())),
                _ => Err(self.mismatch(param, item, EXPECTS)),
            })
            .collect()
    }

    /// An error about `param`'s value, at its argument (or at the op when it was omitted).
    pub(crate) fn invalid(&self, param: &str, msg: &str) -> IrError {
        let (line, col) = match self.get(param) {
            Some(arg) => (arg.line, arg.col),
            None => (self.site.line, self.site.col),
        };
        parse_error(
            line,
            col,
            format!(
                "node '{}' ({}): argument '{param}' {msg}",
                self.site.node, self.site.op
            ),
        )
    }

    /// The raw argument, for parameters with their own structure (`tensor`'s data).
    pub(crate) fn raw(&self, param: &str) -> Result<&Arg, IrError> {
        self.require(param, "a value")
    }
}
