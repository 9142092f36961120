//! A cursor over the tokens of one statement, with errors that point at the offending token.
use super::lexer::{Tok, Token, parse_error};
use crate::error::IrError;

pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
    line: usize,
    /// The column just past the line's last character, where end-of-line errors point.
    end_col: usize,
}

impl Cursor {
    pub(crate) fn new(line: usize, toks: Vec<Token>, end_col: usize) -> Cursor {
        Cursor {
            toks,
            pos: 0,
            line,
            end_col,
        }
    }

    pub(crate) fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    /// The token after the next one.
    pub(crate) fn peek_second(&self) -> Option<&Token> {
        self.toks.get(self.pos + 1)
    }

    /// Whether the statement is an assignment, `NAME (, NAME)* = ...`: an `=` comes before
    /// any `(` (so that `3 = relu(x)` or `a, 3 = ...` get an error about the bad name).
    pub(crate) fn is_assignment(&self) -> bool {
        self.toks[self.pos..]
            .iter()
            .take_while(|t| t.tok != Tok::LParen)
            .any(|t| t.tok == Tok::Equals)
    }

    pub(crate) fn next_token(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// Where the next token starts, or the end of the line.
    pub(crate) fn here(&self) -> (usize, usize) {
        match self.peek() {
            Some(t) => (t.line, t.col),
            None => (self.line, self.end_col),
        }
    }

    pub(crate) fn error_here(&self, msg: impl Into<String>) -> IrError {
        let (line, col) = self.here();
        parse_error(line, col, msg)
    }

    /// `expected {what}, found 'x'` (or `found the end of the line`) at the next token.
    pub(crate) fn expected(&self, what: &str) -> IrError {
        let found = match self.peek() {
            Some(t) => t.tok.to_string(),
            None => "the end of the line".to_string(),
        };
        self.error_here(format!("expected {what}, found {found}"))
    }

    /// Consumes the next token if it is `tok`.
    pub(crate) fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek().is_some_and(|t| &t.tok == tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), IrError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// An identifier with its position.
    pub(crate) fn ident(&mut self, what: &str) -> Result<(String, usize, usize), IrError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(name),
                line,
                col,
            }) => {
                let out = (name.clone(), *line, *col);
                self.pos += 1;
                Ok(out)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Fails unless every token of the statement was consumed.
    pub(crate) fn expect_end(&self, after: &str) -> Result<(), IrError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.error_here(format!(
                "expected the end of the line after {after}, found {}",
                t.tok
            ))),
        }
    }
}
