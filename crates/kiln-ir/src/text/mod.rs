//! The pieces of the `.kiln` parser: lexer, token cursor, argument AST, argument binding and
//! the op table. [`crate::parse`] drives them statement by statement.
pub(crate) mod args;
pub(crate) mod bind;
pub(crate) mod composite;
pub(crate) mod constant;
pub(crate) mod conv;
pub(crate) mod conv_grad;
pub(crate) mod cursor;
pub(crate) mod lexer;
pub(crate) mod ops;

/// Words that are literals in argument position, so they cannot name a value or a symbol.
pub(crate) const RESERVED: [&str; 5] = ["true", "false", "None", "inf", "nan"];

pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}
