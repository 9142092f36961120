//! Small helpers for writing composites: a [`Parts`] adds a composite's intermediate nodes
//! under fresh `{name}_part` names and its result under `name`, so each composite reads as
//! the formula it implements.
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, Operand, ReduceOp, UnaryOp};

/// A graph value as an operand.
pub(crate) fn v(id: NodeId) -> Operand {
    Operand::Value(id)
}

/// A Python-style scalar operand (never changes a tensor's dtype).
pub(crate) fn s(x: f64) -> Operand {
    Operand::Scalar(x)
}

/// The nodes of one composite, named after it.
pub(crate) struct Parts<'g> {
    pub g: &'g mut Graph,
    pub name: &'g str,
    pub op: &'static str,
}

impl<'g> Parts<'g> {
    pub(crate) fn new(g: &'g mut Graph, name: &'g str, op: &'static str) -> Self {
        Parts { g, name, op }
    }

    /// An argument error naming the node being built.
    pub(crate) fn invalid(&self, msg: String) -> IrError {
        IrError::Invalid {
            node: self.name.to_string(),
            op: self.op.to_string(),
            msg,
        }
    }

    /// Fails unless `x` is a float tensor (these composites are float math, as in PyTorch).
    pub(crate) fn require_float(&self, x: NodeId) -> Result<crate::DType, IrError> {
        let info = crate::value_info(self.g, x)?;
        if info.dtype.is_float() {
            Ok(info.dtype)
        } else {
            Err(self.invalid(format!(
                "{} needs a float input, found {}; cast with to() first",
                self.op, info.dtype
            )))
        }
    }

    /// Adds an intermediate node.
    pub(crate) fn part(&mut self, op: Op) -> Result<NodeId, IrError> {
        let n = self.g.fresh_name(&format!("{}_part", self.name));
        self.g.add_op(&n, op)
    }

    /// Adds an intermediate node named for what it is (`{name}_{what}`), so that a shape
    /// error on it says which argument it concerns.
    pub(crate) fn named(&mut self, what: &str, op: Op) -> Result<NodeId, IrError> {
        let n = self.g.fresh_name(&format!("{}_{what}", self.name));
        self.g.add_op(&n, op)
    }

    /// Adds the result, under the composite's own name.
    pub(crate) fn result(&mut self, op: Op) -> Result<NodeId, IrError> {
        self.g.add_op(self.name, op)
    }

    /// Adds a node: the result when `last`, else an intermediate.
    pub(crate) fn add(&mut self, op: Op, last: bool) -> Result<NodeId, IrError> {
        if last { self.result(op) } else { self.part(op) }
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, IrError> {
        self.part(Op::Unary { op, x })
    }

    pub(crate) fn binary(
        &mut self,
        op: BinaryOp,
        a: Operand,
        b: Operand,
    ) -> Result<NodeId, IrError> {
        self.part(Op::Binary { op, a, b })
    }

    pub(crate) fn reduce(
        &mut self,
        op: ReduceOp,
        x: NodeId,
        dims: Vec<i64>,
    ) -> Result<NodeId, IrError> {
        self.part(Op::Reduce {
            op,
            x,
            dims,
            keepdim: true,
        })
    }
}
