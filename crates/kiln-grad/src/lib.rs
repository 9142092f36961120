//! Reverse-mode autodiff for kiln graphs.
//!
//! [`grad`] takes a graph, one of its outputs and the inputs (data inputs or parameters) to
//! differentiate, and returns a **joint graph**: the forward graph unchanged, followed by the
//! backward nodes, whose outputs are the original outputs and then one gradient per input
//! (`grad_<name>`). The backward is built by walking the forward graph in reverse and calling
//! one vector-Jacobian-product rule per op (`vjp/`); a composite (layer_norm, linear, ...) is
//! differentiated through the primitives it was decomposed into, so it needs no rule of its own.
//!
//! Backward nodes whose result has a forward value's shape say so with a `like` operand
//! (`sum_to(g, x)`, `expand_as(g, x)`, `reshape_as(g, x)`), never with sizes, so the backward
//! stays symbolic: one compiled joint graph serves every batch size its guards allow.
//!
//! See `doc/AUTODIFF.md` for the rules' conventions (PyTorch's at kinks and ties) and the list
//! of ops with and without a rule.
mod error;
mod partition;
mod train;
mod transform;
mod vjp;

pub use error::GradError;
pub use partition::{Partition, partition};
pub use train::{ADAM_BIAS1, ADAM_BIAS2_SQRT, Optimizer, TrainSpec, train_step, updated_name};
pub use transform::grad;
pub use vjp::Cx;

use kiln_shape::Dim;

/// What to differentiate.
#[derive(Debug, Clone, PartialEq)]
pub struct GradSpec {
    /// The name of the graph output to differentiate.
    pub output: String,
    /// The inputs or parameters to differentiate with respect to, by name.
    pub wrt: Vec<String>,
    pub seed: Seed,
}

/// The cotangent the backward starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Seed {
    /// The gradient of the sum of all elements of the output (`out.sum().backward()`): a
    /// cotangent of ones, no extra input.
    Sum,
    /// A cotangent passed by the caller as a new last input, `grad_<output>`, declared with
    /// these dims (they must be the output's shape: a plain symbol or a constant per dim).
    Cotangent(Vec<Dim>),
}

impl GradSpec {
    /// `out.sum().backward()` with respect to `wrt`.
    pub fn sum_of(output: &str, wrt: &[&str]) -> GradSpec {
        GradSpec {
            output: output.to_string(),
            wrt: wrt.iter().map(|s| s.to_string()).collect(),
            seed: Seed::Sum,
        }
    }
}

/// The name of the joint graph's output holding the gradient of `input` (and of the cotangent
/// input for [`Seed::Cotangent`] when `input` is the output's name).
pub fn grad_name(input: &str) -> String {
    format!("grad_{input}")
}
