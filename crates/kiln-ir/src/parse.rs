//! The `.kiln` text format parser. STUB.
use crate::{error::IrError, graph::Graph};

/// Parses a `.kiln` source. Errors carry line and column. The result is validated.
pub fn parse(_src: &str) -> Result<Graph, IrError> {
    unimplemented!()
}
