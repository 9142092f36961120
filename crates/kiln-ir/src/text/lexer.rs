//! Splits one line of `.kiln` source into tokens that remember their 1-based line and column.
//!
//! The format is line oriented, so the lexer works a line at a time: a statement never spans
//! lines, and `#` starts a comment that runs to the end of the line (outside string literals).
use std::fmt;

use crate::error::IrError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// An integer literal: digits only, no `.` and no exponent.
    Int(i64),
    /// A literal with a `.` or an exponent (`2.0`, `1e-3`).
    Float(f64),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Equals,
    Minus,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Int(v) => write!(f, "'{v}'"),
            Tok::Float(v) => write!(f, "'{v:?}'"),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::Comma => f.write_str("','"),
            Tok::Colon => f.write_str("':'"),
            Tok::Equals => f.write_str("'='"),
            Tok::Minus => f.write_str("'-'"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

pub(crate) fn parse_error(line: usize, col: usize, msg: impl Into<String>) -> IrError {
    IrError::Parse {
        line,
        col,
        msg: msg.into(),
    }
}

/// The tokens of line `line` (1-based) and the column just past its last character, which is
/// where "expected X at the end of the line" errors point.
pub(crate) fn lex_line(line: usize, text: &str) -> Result<(Vec<Token>, usize), IrError> {
    // Editors on Windows start UTF-8 files with a byte order mark; it is not part of the text
    // (and editors do not show it, so columns count from after it).
    let text = match line {
        1 => text.strip_prefix('\u{feff}').unwrap_or(text),
        _ => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '=' => Some(Tok::Equals),
            '-' => Some(Tok::Minus),
            _ => None,
        };
        if let Some(tok) = punct {
            tokens.push(Token { tok, line, col });
            i += 1;
        } else if c == '#' {
            break;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            tokens.push(Token {
                tok: Tok::Ident(name),
                line,
                col,
            });
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (tok, end) = lex_number(&chars, i, line)?;
            tokens.push(Token { tok, line, col });
            i = end;
        } else if c == '"' {
            let (s, end) = lex_string(&chars, i, line)?;
            tokens.push(Token {
                tok: Tok::Str(s),
                line,
                col,
            });
            i = end;
        } else {
            return Err(parse_error(
                line,
                col,
                format!("unexpected character '{c}'"),
            ));
        }
    }
    Ok((tokens, chars.len() + 1))
}

/// Lexes `digits [. digits] [e [+-] digits]` starting at `start`; returns the token and the
/// index just past it.
fn lex_number(chars: &[char], start: usize, line: usize) -> Result<(Tok, usize), IrError> {
    let digits = |mut i: usize| {
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    let mut is_float = false;
    if chars.get(i) == Some(&'.') {
        is_float = true;
        i = digits(i + 1);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if !chars.get(j).is_some_and(char::is_ascii_digit) {
            return Err(parse_error(
                line,
                j + 1,
                "expected digits in the exponent of a number",
            ));
        }
        is_float = true;
        i = digits(j);
    }
    if chars
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        return Err(parse_error(
            line,
            i + 1,
            format!("unexpected character '{}' in a number", chars[i]),
        ));
    }
    let text: String = chars[start..i].iter().collect();
    let tok = if is_float {
        // A well-formed decimal literal always parses as f64 (overflow gives infinity).
        let v = text
            .parse::<f64>()
            .map_err(|_| parse_error(line, start + 1, format!("invalid number '{text}'")))?;
        Tok::Float(v)
    } else {
        let v = text.parse::<i64>().map_err(|_| {
            parse_error(
                line,
                start + 1,
                format!("integer literal '{text}' is out of range"),
            )
        })?;
        Tok::Int(v)
    };
    Ok((tok, i))
}

/// Lexes a double-quoted string with `\"` and `\\` escapes.
fn lex_string(chars: &[char], start: usize, line: usize) -> Result<(String, usize), IrError> {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((s, i + 1)),
            '\\' => match chars.get(i + 1) {
                Some(&c @ ('"' | '\\')) => {
                    s.push(c);
                    i += 2;
                }
                _ => {
                    return Err(parse_error(
                        line,
                        i + 1,
                        "unknown escape in string (only \\\" and \\\\ are allowed)",
                    ));
                }
            },
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Err(parse_error(line, start + 1, "unterminated string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex_line(1, s)
            .unwrap()
            .0
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn lexes_every_token_kind_with_columns() {
        let (t, end) = lex_line(3, "p = f(x, [1, 2], 2.5, \"a\") # c").unwrap();
        assert_eq!(end, 31);
        assert_eq!(t[0].tok, Tok::Ident("p".into()));
        assert_eq!((t[0].line, t[0].col), (3, 1));
        assert_eq!((t[2].tok.clone(), t[2].col), (Tok::Ident("f".into()), 5));
        assert_eq!(t[7].tok, Tok::Int(1));
        assert_eq!(t[12].tok, Tok::Float(2.5));
        assert_eq!((t[14].tok.clone(), t[14].col), (Tok::Str("a".into()), 23));
        assert_eq!(t.last().unwrap().tok, Tok::RParen);
        assert_eq!(
            toks("a: -"),
            vec![Tok::Ident("a".into()), Tok::Colon, Tok::Minus]
        );
    }

    #[test]
    fn a_byte_order_mark_starts_the_first_line_only() {
        let text = "\u{feff}graph g";
        assert_eq!(
            toks(text),
            vec![Tok::Ident("graph".into()), Tok::Ident("g".into())]
        );
        let (t, end) = lex_line(1, text).unwrap();
        assert_eq!((t[0].col, t[1].col, end), (1, 7, 8));
        let err = lex_line(2, "\u{feff}x").unwrap_err();
        assert_eq!(err, parse_error(2, 1, "unexpected character '\u{feff}'"));
    }

    #[test]
    fn lexes_numbers() {
        assert_eq!(toks("1e-3"), vec![Tok::Float(1e-3)]);
        assert_eq!(
            toks("1E+300 .5 7."),
            vec![Tok::Float(1e300), Tok::Float(0.5), Tok::Float(7.0)]
        );
        assert_eq!(toks("9223372036854775807"), vec![Tok::Int(i64::MAX)]);
    }

    #[test]
    fn reports_bad_input_with_position() {
        let err = |s: &str| lex_line(2, s).unwrap_err();
        assert_eq!(err("x = @"), parse_error(2, 5, "unexpected character '@'"));
        assert_eq!(err("a = \"abc"), parse_error(2, 5, "unterminated string"));
        assert_eq!(
            err("1e+"),
            parse_error(2, 4, "expected digits in the exponent of a number")
        );
        assert_eq!(
            err("  99999999999999999999"),
            parse_error(
                2,
                3,
                "integer literal '99999999999999999999' is out of range"
            )
        );
        assert_eq!(
            err("12ab"),
            parse_error(2, 3, "unexpected character 'a' in a number")
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(toks(r#""a\"b\\""#), vec![Tok::Str("a\"b\\".into())]);
        assert!(lex_line(1, r#""\n""#).is_err());
        assert_eq!(toks("\"#\" # x"), vec![Tok::Str("#".into())]);
    }
}
