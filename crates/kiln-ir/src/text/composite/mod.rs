//! The text format's composite ops: calls that the graph builder ([`crate::build`]) expands
//! into several primitive nodes (`linear` into a transpose, a matmul and an add), and calls
//! with several results (`values, indices = max(x, dim=1)`).
//!
//! Each op family lists its composites in its own table (`text/composite/<family>.rs` or
//! beside its primitives); [`find`] searches them all. A composite's `build` receives the
//! names the statement assigns: it must name its results exactly so (checking their count)
//! and may add intermediate nodes under fresh names ([`crate::Graph::fresh_name`]).
mod activation;
mod conv;
mod grad;
mod index;
mod linalg;
mod movement;
mod norm;

use super::bind::{Bound, Signature};
use crate::error::IrError;
use crate::graph::{Graph, NodeId};

/// Builds a composite from its bound arguments into `g`, naming its results `names`.
pub(crate) type BuildFn = fn(&Bound, &mut Graph, &[String]) -> Result<Vec<NodeId>, IrError>;

/// One composite op of the text format.
pub(crate) struct CompositeDef {
    pub name: &'static str,
    pub signature: Signature,
    pub build: BuildFn,
}

/// Every family's composite table.
const TABLES: &[&[CompositeDef]] = &[
    conv::TABLE,
    activation::ACTIVATIONS,
    norm::NORMS,
    movement::COMPOSITES,
    index::INDEX,
    linalg::COMPOSITES,
    grad::COMPOSITES,
];

/// The composite op called `name`, if there is one.
pub(crate) fn find(name: &str) -> Option<&'static CompositeDef> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|d| d.name == name)
}

/// Fails unless the statement assigns exactly `count` names (`what` describes the results).
pub(crate) fn expect_results(
    b: &Bound,
    names: &[String],
    count: usize,
    what: &str,
) -> Result<(), IrError> {
    if names.len() == count {
        return Ok(());
    }
    Err(super::lexer::parse_error(
        b.site.line,
        b.site.col,
        format!(
            "'{}' returns {what} ({count} values), but {} names are assigned",
            b.site.op,
            names.len()
        ),
    ))
}
