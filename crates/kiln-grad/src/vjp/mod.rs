//! The vector-Jacobian products, one module per op family, and [`Cx`], the builder they
//! write the backward with.
//!
//! A rule has the signature of [`Rule`]: given the forward node, its op, the cotangent `ct`
//! of its result (same shape and dtype) and which operands need a gradient (`needs`, one per
//! position of `Op::inputs()`), it returns one contribution per position (`None` where not
//! needed or where the gradient is zero). A contribution has exactly its operand's shape (use
//! `cx.sum_to(c, x)` after broadcasting); a dtype differing from the operand's is cast by the
//! walk. Forward values are read with `cx.fwd(id)` (the joint graph keeps the forward's ids).
mod conv;
mod elementwise;
mod index;
mod layout;
mod linalg;
mod pad;
mod pool;
mod reduce;

use kiln_ir::build::grad as gb;
use kiln_ir::{
    BinaryOp, DType, Graph, IrError, NodeId, NodeKind, Op, Operand, UnaryOp, ValueInfo, op_info,
};
use kiln_shape::Dim;

use crate::GradError;

/// The signature every rule has (see the module docs).
pub type Rule = fn(
    cx: &mut Cx,
    node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError>;

/// The rule for `op`'s family.
pub(crate) fn vjp(
    cx: &mut Cx,
    node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let rule: Rule = match op {
        Op::Unary { .. } | Op::Binary { .. } | Op::Where { .. } | Op::Cast { .. } => {
            elementwise::vjp
        }
        Op::Reduce { .. } | Op::Softmax { .. } | Op::CumSum { .. } => reduce::vjp,
        Op::Reshape { .. }
        | Op::Permute { .. }
        | Op::Transpose { .. }
        | Op::Unsqueeze { .. }
        | Op::Squeeze { .. }
        | Op::Expand { .. }
        | Op::Flatten { .. }
        | Op::Unflatten { .. }
        | Op::Cat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::Pad { .. }
        | Op::Repeat { .. }
        | Op::SumTo { .. }
        | Op::ExpandAs { .. }
        | Op::ReshapeAs { .. }
        | Op::SliceScatter { .. }
        | Op::CatPart { .. } => layout::vjp,
        Op::MatMul { .. } => linalg::vjp,
        Op::Conv { .. } | Op::ConvTranspose2d { .. } => conv::vjp,
        Op::MaxPool2d { .. }
        | Op::AvgPool2d { .. }
        | Op::AdaptiveAvgPool2d { .. }
        | Op::AdaptiveMaxPool2d { .. } => pool::vjp,
        Op::IndexSelect { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::IndexAdd { .. }
        | Op::Embedding { .. } => index::vjp,
        _ => return Err(cx.not_differentiable(op, "kiln has no backward rule for this op yet")),
    };
    let out = rule(cx, node, op, ct, needs)?;
    debug_assert_eq!(
        out.len(),
        needs.len(),
        "a rule returns one entry per operand"
    );
    Ok(out)
}

/// The joint graph under construction, with the dtype and rank of each of its nodes, and the
/// forward node whose backward is being built (it names the new nodes and the errors).
pub struct Cx {
    g: Graph,
    infos: Vec<ValueInfo>,
    node: NodeId,
}

impl Cx {
    pub(crate) fn new(fwd: &Graph) -> Result<Cx, GradError> {
        let mut infos = Vec::with_capacity(fwd.len());
        for id in fwd.node_ids() {
            // Validated by the caller, so every node has an info.
            infos.push(kiln_ir::value_info_in(fwd, id, &infos)?);
        }
        Ok(Cx {
            g: fwd.clone(),
            infos,
            node: NodeId::new(0),
        })
    }

    pub(crate) fn begin(&mut self, node: NodeId) {
        self.node = node;
    }

    pub(crate) fn finish(self) -> Graph {
        self.g
    }

    /// The forward value `id` in the joint graph.
    pub fn fwd(&self, id: NodeId) -> NodeId {
        id
    }

    pub fn info(&self, id: NodeId) -> ValueInfo {
        self.infos[id.index()]
    }

    pub fn dtype(&self, id: NodeId) -> DType {
        self.info(id).dtype
    }

    /// The rank of `id`, or an error naming the current node when it depends on sizes.
    pub fn rank_of(&self, id: NodeId) -> Result<usize, GradError> {
        self.info(id)
            .rank
            .ok_or_else(|| GradError::NotDifferentiable {
                node: self.node_name(),
                op: self.op_name(),
                reason: format!(
                    "the rank of `{}` depends on sizes (squeeze() of a symbolic dim); the backward \
                 needs it",
                    self.g.node(id).name
                ),
            })
    }

    fn node_name(&self) -> String {
        self.g.node(self.node).name.clone()
    }

    fn op_name(&self) -> String {
        match &self.g.node(self.node).kind {
            NodeKind::Op(op) => op.name().to_string(),
            NodeKind::Input(_) => "input".to_string(),
            NodeKind::Constant(_) => "tensor".to_string(),
        }
    }

    /// The error for an op (or an op's configuration) without a rule.
    pub fn not_differentiable(&self, op: &Op, reason: &str) -> GradError {
        GradError::NotDifferentiable {
            node: self.node_name(),
            op: op.name().to_string(),
            reason: reason.to_string(),
        }
    }

    fn build_error(&self, source: IrError) -> GradError {
        GradError::Build {
            node: self.node_name(),
            source: Box::new(source),
        }
    }

    fn name(&self, part: &str) -> String {
        let base = format!("d{}_{part}", self.g.node(self.node).name);
        self.g.fresh_name(&base)
    }

    fn record(&mut self, id: NodeId) -> Result<NodeId, GradError> {
        let info = match &self.g.node(id).kind {
            NodeKind::Op(op) => {
                let infos = &self.infos;
                op_info(op, &|i: NodeId| {
                    infos
                        .get(i.index())
                        .copied()
                        .ok_or_else(|| format!("operand #{} is not defined", i.index()))
                })
                .map_err(|msg| {
                    self.build_error(IrError::Invalid {
                        node: self.g.node(id).name.clone(),
                        op: op.name().to_string(),
                        msg,
                    })
                })?
            }
            _ => kiln_ir::value_info_in(&self.g, id, &self.infos)?,
        };
        debug_assert_eq!(self.infos.len(), id.index());
        self.infos.push(info);
        Ok(id)
    }

    /// Adds `op` as a backward node named after the current forward node and `part`.
    pub fn add(&mut self, part: &str, op: Op) -> Result<NodeId, GradError> {
        let name = self.name(part);
        let id = self.g.add_op(&name, op).map_err(|e| self.build_error(e))?;
        self.record(id)
    }

    /// Runs a `kiln_ir::build` function (which may add several nodes) and records the nodes
    /// it added.
    pub fn build(
        &mut self,
        part: &str,
        f: impl FnOnce(&mut Graph, &str) -> Result<NodeId, IrError>,
    ) -> Result<NodeId, GradError> {
        let name = self.name(part);
        let first = self.g.len();
        let id = f(&mut self.g, &name).map_err(|e| self.build_error(e))?;
        for i in first..self.g.len() {
            self.record(NodeId::new(i))?;
        }
        Ok(id)
    }

    pub(crate) fn add_input(
        &mut self,
        name: &str,
        dtype: DType,
        dims: Vec<Dim>,
    ) -> Result<NodeId, GradError> {
        let id = self
            .g
            .add_input(name, dtype, dims)
            .map_err(|e| self.build_error(e))?;
        self.record(id)
    }

    /// `id` under the name `name` (an output's name is its node's): a reshape_as to itself
    /// when `id` already has a name the caller chose.
    pub(crate) fn rename(&mut self, id: NodeId, name: &str) -> Result<NodeId, GradError> {
        let op = Op::ReshapeAs { x: id, like: id };
        let new = self.g.add_op(name, op).map_err(|e| self.build_error(e))?;
        self.record(new)
    }

    /// Adds contribution `c` to the cotangent `acc` of forward value `input` (cast to its dtype).
    pub(crate) fn accumulate(
        &mut self,
        input: NodeId,
        acc: Option<NodeId>,
        c: NodeId,
    ) -> Result<NodeId, GradError> {
        let want = self.dtype(input);
        let c = if self.dtype(c) == want {
            c
        } else {
            self.cast(c, want)?
        };
        match acc {
            None => Ok(c),
            Some(a) => self.binary(BinaryOp::Add, v(a), v(c)),
        }
    }

    // -- Small builders the rules share. --

    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, GradError> {
        self.add(op.name(), Op::Unary { op, x })
    }

    pub fn binary(&mut self, op: BinaryOp, a: Operand, b: Operand) -> Result<NodeId, GradError> {
        self.add(op.name(), Op::Binary { op, a, b })
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GradError> {
        self.binary(BinaryOp::Mul, v(a), v(b))
    }

    pub fn scale(&mut self, a: NodeId, s: f64) -> Result<NodeId, GradError> {
        self.binary(BinaryOp::Mul, v(a), Operand::Scalar(s))
    }

    pub fn where_(&mut self, cond: Operand, a: Operand, b: Operand) -> Result<NodeId, GradError> {
        self.add("where", Op::Where { cond, a, b })
    }

    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId, GradError> {
        self.add("to", Op::Cast { x, dtype })
    }

    pub fn sum_to(&mut self, x: NodeId, like: NodeId) -> Result<NodeId, GradError> {
        self.build("sum_to", |g, n| gb::sum_to(g, n, x, like))
    }

    pub fn expand_as(&mut self, x: NodeId, like: NodeId) -> Result<NodeId, GradError> {
        self.build("expand_as", |g, n| gb::expand_as(g, n, x, like))
    }

    pub fn reshape_as(&mut self, x: NodeId, like: NodeId) -> Result<NodeId, GradError> {
        self.build("reshape_as", |g, n| gb::reshape_as(g, n, x, like))
    }

    pub fn full_like(
        &mut self,
        like: NodeId,
        value: f64,
        dtype: DType,
    ) -> Result<NodeId, GradError> {
        self.build("full", |g, n| gb::full_like(g, n, like, value, dtype))
    }

    pub fn zeros_like(&mut self, like: NodeId) -> Result<NodeId, GradError> {
        let dtype = self.dtype(like);
        self.full_like(like, 0.0, dtype)
    }
}

/// A value operand.
pub fn v(id: NodeId) -> Operand {
    Operand::Value(id)
}

/// A scalar operand.
pub fn s(x: f64) -> Operand {
    Operand::Scalar(x)
}
