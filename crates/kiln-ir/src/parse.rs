//! The `.kiln` text format parser.
//!
//! ```text
//! graph pool_relu
//! input x: f32[N, C, H, W]
//! r = relu(x)
//! p = max_pool2d(r, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)
//! output p
//! ```
//! `param NAME: DTYPE[INT, ...]` declares a parameter (a weight bound once, not per call).
//! One statement per line; `#` comments; `graph NAME` first, `output NAME, ...` exactly once
//! and last. Errors are [`IrError::Parse`] with the 1-based line and column of the offending
//! token.
use kiln_shape::Dim;

use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, InputKind, NodeId};
use crate::infer::validate;

#[path = "text/mod.rs"]
pub(crate) mod text;

use text::args::parse_call_args;
use text::bind::{CallSite, bind};
use text::constant::{TENSOR_SIGNATURE, build_constant};
use text::cursor::Cursor;
use text::lexer::{Tok, Token, lex_line, parse_error};
use text::ops::OpForm;

/// Parses a `.kiln` source and validates the graph ([`crate::validate`]).
pub fn parse(src: &str) -> Result<Graph, IrError> {
    let g = parse_unchecked(src)?;
    validate(&g)?;
    Ok(g)
}

/// Parses a `.kiln` source without validating dtypes, ranks and argument ranges: only the
/// syntax, names, op signatures and argument kinds are checked.
pub fn parse_unchecked(src: &str) -> Result<Graph, IrError> {
    let mut state = ParseState::default();
    let mut last_line = (1, 1);
    for (index, text) in src.lines().enumerate() {
        let line = index + 1;
        let (toks, end_col) = lex_line(line, text)?;
        last_line = (line, end_col);
        if toks.is_empty() {
            continue;
        }
        state.statement(&mut Cursor::new(line, toks, end_col))?;
    }
    let (line, col) = last_line;
    match state.graph {
        None => Err(parse_error(
            line,
            col,
            "expected 'graph NAME' as the first statement, found the end of the source",
        )),
        Some(_) if !state.has_outputs => Err(parse_error(
            line,
            col,
            "expected an 'output' statement at the end of the source",
        )),
        Some(g) => Ok(g),
    }
}

#[derive(Default)]
struct ParseState {
    /// Set by the `graph NAME` statement.
    graph: Option<Graph>,
    has_outputs: bool,
}

impl ParseState {
    fn statement(&mut self, c: &mut Cursor) -> Result<(), IrError> {
        let Some(Token { tok: first, .. }) = c.peek().cloned() else {
            return Ok(());
        };
        let is_assignment = c.is_assignment();
        let keyword = match &first {
            Tok::Ident(k) if !is_assignment => k.as_str(),
            _ => "",
        };
        if self.has_outputs {
            return Err(c.error_here("nothing may follow the 'output' statement"));
        }
        let Some(g) = self.graph.as_mut() else {
            if keyword != "graph" {
                return Err(c.expected("'graph NAME' as the first statement"));
            }
            c.next_token();
            let (name, ..) = c.ident("the graph's name after 'graph'")?;
            c.expect_end("the graph's name")?;
            self.graph = Some(Graph::new(&name));
            return Ok(());
        };
        match keyword {
            "graph" => Err(c.error_here("the 'graph' statement may appear only once, first")),
            "input" => {
                c.next_token();
                input_statement(c, g, InputKind::Data)
            }
            "param" => {
                c.next_token();
                input_statement(c, g, InputKind::Param)
            }
            "output" => {
                c.next_token();
                output_statement(c, g)?;
                self.has_outputs = true;
                Ok(())
            }
            _ if is_assignment => node_statement(c, g),
            _ => Err(c.expected("a statement ('input', 'param', 'output' or 'NAME = op(...)')")),
        }
    }
}

/// A new value's name, which must not be a literal word such as `inf`.
fn value_name(c: &mut Cursor, what: &str) -> Result<(String, usize, usize), IrError> {
    let (name, line, col) = c.ident(what)?;
    if text::is_reserved(&name) {
        return Err(parse_error(
            line,
            col,
            format!("'{name}' is a reserved word and cannot name a value"),
        ));
    }
    Ok((name, line, col))
}

fn defined_twice(err: IrError, line: usize, col: usize) -> IrError {
    match err {
        IrError::DuplicateName { name } => {
            parse_error(line, col, format!("the name '{name}' is defined twice"))
        }
        other => other,
    }
}

/// `input NAME: DTYPE[DIM, ...]` or `param NAME: DTYPE[INT, ...]`, after the keyword. A
/// parameter's dims are integers: it is bound once, with one shape.
fn input_statement(c: &mut Cursor, g: &mut Graph, kind: InputKind) -> Result<(), IrError> {
    let word = match kind {
        InputKind::Data => "input",
        InputKind::Param => "param",
    };
    let (name, line, col) = value_name(c, &format!("the {word}'s name after '{word}'"))?;
    c.expect(&Tok::Colon, &format!("':' after the {word}'s name"))?;
    let (dtype_name, dline, dcol) = c.ident("a dtype (f32, f64, f16, bf16 or bool)")?;
    let dtype = DType::parse(&dtype_name).ok_or_else(|| {
        parse_error(
            dline,
            dcol,
            format!("unknown dtype '{dtype_name}' (expected f32, f64, f16, bf16 or bool)"),
        )
    })?;
    c.expect(
        &Tok::LBracket,
        &format!("'[' before the {word}'s dimensions"),
    )?;
    let mut dims = Vec::new();
    if !c.eat(&Tok::RBracket) {
        loop {
            if kind == InputKind::Param
                && let Some(Token {
                    tok: Tok::Ident(sym),
                    ..
                }) = c.peek()
            {
                return Err(c.error_here(format!(
                    "a parameter's dims are integers, found the symbol '{sym}' (a size that \
                     varies per call belongs to an 'input')"
                )));
            }
            dims.push(dimension(c)?);
            if !c.eat(&Tok::Comma) {
                c.expect(&Tok::RBracket, "',' or ']' after a dimension")?;
                break;
            }
        }
    }
    c.expect_end(&format!("the {word}'s dimensions"))?;
    let added = match kind {
        InputKind::Data => g.add_input(&name, dtype, dims),
        InputKind::Param => {
            let shape: Vec<usize> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(v) => usize::try_from(*v).unwrap_or(usize::MAX),
                    Dim::Sym(_) => usize::MAX,
                })
                .collect();
            g.add_param(&name, dtype, &shape)
        }
    };
    added.map(drop).map_err(|e| defined_twice(e, line, col))
}

/// A declared dimension: a non-negative integer or a symbol name.
fn dimension(c: &mut Cursor) -> Result<Dim, IrError> {
    const WHAT: &str = "a dimension (an integer or a symbol name)";
    let dim = match c.peek().map(|t| &t.tok) {
        Some(Tok::Int(v)) => Dim::Fixed(*v),
        Some(Tok::Ident(name)) if !text::is_reserved(name) => Dim::Sym(name.clone()),
        _ => return Err(c.expected(WHAT)),
    };
    c.next_token();
    Ok(dim)
}

/// `output NAME, ...`, after the keyword.
fn output_statement(c: &mut Cursor, g: &mut Graph) -> Result<(), IrError> {
    let mut outputs: Vec<NodeId> = Vec::new();
    loop {
        let (name, line, col) = c.ident("a value name in 'output'")?;
        let id = g
            .find(&name)
            .ok_or_else(|| parse_error(line, col, format!("output: unknown value '{name}'")))?;
        outputs.push(id);
        if !c.eat(&Tok::Comma) {
            break;
        }
    }
    c.expect_end("the output names")?;
    g.set_outputs(outputs)
}

/// `NAME = OP(ARGS)`, or `NAME, NAME, ... = OP(ARGS)` for an op with several results
/// (`values, indices = max(x, dim=1)`).
fn node_statement(c: &mut Cursor, g: &mut Graph) -> Result<(), IrError> {
    let mut names = Vec::new();
    loop {
        names.push(value_name(c, "a value name")?);
        if !c.eat(&Tok::Comma) {
            break;
        }
    }
    c.expect(&Tok::Equals, "'=' after the value's name")?;
    let (op, op_line, op_col) = c.ident("an op name after '='")?;
    c.expect(&Tok::LParen, &format!("'(' after '{op}'"))?;
    let args = parse_call_args(c)?;
    c.expect_end("the call")?;
    let (name, line, col) = names[0].clone();
    let site = CallSite {
        node: &name,
        op: &op,
        line: op_line,
        col: op_col,
    };
    if let Some(def) = text::composite::find(&op) {
        let result_names: Vec<String> = names.iter().map(|n| n.0.clone()).collect();
        let bound = bind(site, def.signature, args)?;
        return (def.build)(&bound, g, &result_names)
            .map(drop)
            .map_err(|e| defined_twice(e, line, col));
    }
    if names.len() > 1 {
        return Err(parse_error(
            line,
            col,
            format!(
                "'{op}' has one result, but {} names are assigned",
                names.len()
            ),
        ));
    }
    let added = if op == "tensor" {
        let value = build_constant(&bind(site, TENSOR_SIGNATURE, args)?)?;
        g.add_constant(&name, value)
    } else {
        let form = OpForm::by_name(&op).ok_or_else(|| {
            parse_error(op_line, op_col, format!("node '{name}': unknown op '{op}'"))
        })?;
        let built = form.build(&bind(site, form.signature(), args)?, g)?;
        g.add_op(&name, built)
    };
    added.map(drop).map_err(|e| defined_twice(e, line, col))
}
