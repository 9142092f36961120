//! Symbolic integers, guards and the shape environment.
//!
//! kiln compiles a graph once for a whole *class* of input shapes. The sizes in that class are
//! written as [`Expr`]essions over named symbols (`N`, `H`, `W`); every decision the compiler takes
//! that depends on a size is asked of a [`ShapeEnv`], which answers from the symbols' example
//! values (*hints*) and records the answer as a guard ([`Cond`]). The guards, collected in a
//! [`GuardSet`], say exactly when the compiled code may be reused: the cache stores them beside
//! the code and evaluates them against the sizes of a later call.

mod bind;
mod bounds;
mod cond;
mod env;
mod expr;
mod guards;
mod implied;
mod positivity;

pub use bind::{BindError, Dim, Policy, bind_shapes, bind_symbols, specialize_inputs};
pub use cond::{CmpOp, Cond, GuardFailure, GuardSet};
pub use env::{Bindings, ShapeEnv, ShapeError, SymbolInfo, SymbolLookup, ValueRange};
pub use expr::{Atom, EvalError, Expr, Factor, floor_div_i64, python_mod};
