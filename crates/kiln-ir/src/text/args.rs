//! The argument list of a call, `(x, [3, 3], stride=2, approximate="tanh")`, as a small AST.
//!
//! Arguments are kept untyped here: whether `f16` is a dtype or a value name, or `N` a symbol,
//! depends on which parameter it binds to, which [`super::bind`] decides.
use std::fmt;

use super::cursor::Cursor;
use super::lexer::{Tok, Token, parse_error};
use crate::error::IrError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgKind {
    Int(i64),
    /// Any literal with a `.` or exponent, and `inf`, `-inf`, `nan`.
    Float(f64),
    Str(String),
    /// A value name, `true`/`false`/`None`, a dtype name or a symbol name.
    Name(String),
    List(Vec<Arg>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub kind: ArgKind,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Arg {
    /// Describes the argument for "expects X, found Y" messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Int(v) => write!(f, "the integer {v}"),
            ArgKind::Float(v) => write!(f, "the number {v:?}"),
            ArgKind::Str(s) => write!(f, "the string \"{s}\""),
            ArgKind::Name(n) => write!(f, "the name '{n}'"),
            ArgKind::List(items) => write!(f, "a list of {} entries", items.len()),
        }
    }
}

/// One argument of a call, positional or `keyword=value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallArg {
    /// The keyword and its column.
    pub keyword: Option<(String, usize)>,
    pub value: Arg,
}

/// Parses the arguments after `(` up to and including the closing `)`.
pub(crate) fn parse_call_args(c: &mut Cursor) -> Result<Vec<CallArg>, IrError> {
    let mut args = Vec::new();
    loop {
        if c.eat(&Tok::RParen) {
            return Ok(args);
        }
        let keyword = match (c.peek(), c.peek_second()) {
            (
                Some(Token {
                    tok: Tok::Ident(k),
                    col,
                    ..
                }),
                Some(Token {
                    tok: Tok::Equals, ..
                }),
            ) => {
                let k = (k.clone(), *col);
                c.next_token();
                c.next_token();
                Some(k)
            }
            _ => None,
        };
        let value = parse_value(c)?;
        args.push(CallArg { keyword, value });
        if !c.eat(&Tok::Comma) {
            c.expect(&Tok::RParen, "')' after arguments")?;
            return Ok(args);
        }
    }
}

/// A literal, a name, or a bracketed list of them.
pub(crate) fn parse_value(c: &mut Cursor) -> Result<Arg, IrError> {
    let (line, col) = c.here();
    let arg = |kind| Arg { kind, line, col };
    let Some(token) = c.next_token() else {
        return Err(c.expected("an argument"));
    };
    match token.tok {
        Tok::Int(v) => Ok(arg(ArgKind::Int(v))),
        Tok::Float(v) => Ok(arg(ArgKind::Float(v))),
        Tok::Str(s) => Ok(arg(ArgKind::Str(s))),
        Tok::Ident(name) => Ok(arg(match name.as_str() {
            "inf" => ArgKind::Float(f64::INFINITY),
            "nan" => ArgKind::Float(f64::NAN),
            _ => ArgKind::Name(name),
        })),
        Tok::Minus => match c.peek().map(|t| t.tok.clone()) {
            // `-9223372036854775808` cannot be written; `-i64::MAX` is the most negative int.
            Some(Tok::Int(v)) => {
                c.next_token();
                Ok(arg(ArgKind::Int(-v)))
            }
            Some(Tok::Float(v)) => {
                c.next_token();
                Ok(arg(ArgKind::Float(-v)))
            }
            Some(Tok::Ident(n)) if n == "inf" => {
                c.next_token();
                Ok(arg(ArgKind::Float(f64::NEG_INFINITY)))
            }
            _ => Err(c.expected("a number after '-'")),
        },
        Tok::LBracket => {
            let mut items = Vec::new();
            loop {
                if c.eat(&Tok::RBracket) {
                    break;
                }
                items.push(parse_value(c)?);
                if !c.eat(&Tok::Comma) {
                    c.expect(&Tok::RBracket, "',' or ']' in a list")?;
                    break;
                }
            }
            Ok(arg(ArgKind::List(items)))
        }
        other => Err(parse_error(
            line,
            col,
            format!("expected an argument, found {other}"),
        )),
    }
}
