//! Validation (dtypes, ranks, arguments) and symbolic shape inference.
//!
//! [`validate`] needs no sizes; [`infer_shapes`] runs the same checks with every rank known and
//! then derives each node's shape as [`Expr`]essions inside a [`ShapeEnv`], asking the env for
//! every size-dependent decision so that the decision becomes a guard — like PyTorch tracing
//! with fake tensors.
pub(crate) mod check;
mod conv;
mod conv_grad;
mod flatten;
mod grad;
mod index;
mod linalg;
mod movement;
mod pool;
mod pool_grad;
mod shapes;

pub use grad::cat_part_offset;
pub use grad::sum_to_dims;
pub use movement::{SliceRange, pad_pairs, select_index, slice_range};
pub use shapes::{known_one, squeezed_dims};

use kiln_shape::{BindError, Expr, ShapeEnv};

use crate::graph::{Graph, InputDecl, Node, NodeId, NodeKind};
use crate::op::Op;
use crate::{dtype::DType, error::IrError};
pub use check::ValueInfo;
use check::{check_constant, check_op};

/// A value's type after specialisation: dtype and symbolic shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<Expr>,
}

fn invalid(node: &Node, op: &str, msg: String) -> IrError {
    IrError::Invalid {
        node: node.name.clone(),
        op: op.to_string(),
        msg,
    }
}

/// The info of an operand from the infos of the nodes before it.
fn lookup_in<T>(
    done: &[T],
    id: NodeId,
    info: impl Fn(&T) -> ValueInfo,
) -> Result<ValueInfo, String> {
    done.get(id.index())
        .map(info)
        .ok_or_else(|| format!("operand #{} is not defined before this node", id.index()))
}

/// One node's dtype and rank from the checks, given its operands' (`lookup`).
pub(crate) fn node_info(
    g: &Graph,
    id: NodeId,
    lookup: &check::Lookup,
) -> Result<ValueInfo, IrError> {
    let node = g.node(id);
    match &node.kind {
        NodeKind::Input(i) => {
            let decl = g
                .inputs()
                .get(*i)
                .ok_or_else(|| invalid(node, "input", format!("input #{i} is not declared")))?;
            Ok(ValueInfo {
                dtype: decl.dtype,
                rank: Some(decl.dims.len()),
            })
        }
        NodeKind::Constant(t) => check_constant(t).map_err(|m| invalid(node, "tensor", m)),
        NodeKind::Op(op) => check_op(op, lookup).map_err(|m| invalid(node, op.name(), m)),
    }
}

/// The dtype and rank of node `id` given the infos of the nodes before it (`done`, indexed by
/// node id): [`value_info`] for a walk that already has them.
pub fn value_info_in(g: &Graph, id: NodeId, done: &[ValueInfo]) -> Result<ValueInfo, IrError> {
    node_info(g, id, &|i| lookup_in(done, i, |x| *x))
}

/// The dtype and rank of `op`'s result given its operands' (`lookup`), or the check's message:
/// for a transform that adds nodes and tracks their infos itself (autodiff), where
/// [`value_info`] would walk the graph again for every node.
pub fn op_info(
    op: &Op,
    lookup: &dyn Fn(NodeId) -> Result<ValueInfo, String>,
) -> Result<ValueInfo, String> {
    check_op(op, lookup)
}

/// Checks every node without sizes: arity, argument values, dtypes, ranks, dims in range,
/// pooling parameters; there must be at least one output. Errors name the node.
pub fn validate(g: &Graph) -> Result<(), IrError> {
    if g.outputs().is_empty() {
        return Err(IrError::NoOutputs);
    }
    for decl in g.inputs() {
        if let Some(v) = decl.dims.iter().find_map(|d| match d {
            kiln_shape::Dim::Fixed(v) if *v < 0 => Some(*v),
            _ => None,
        }) {
            let node = g.node(g.find(&decl.name).expect("every input is a node"));
            return Err(invalid(
                node,
                "input",
                format!("declared size {v} is negative (expected >= 0)"),
            ));
        }
    }
    let mut infos: Vec<ValueInfo> = Vec::with_capacity(g.len());
    for id in g.node_ids() {
        let info = node_info(g, id, &|o| lookup_in(&infos, o, |i| *i))?;
        infos.push(info);
    }
    Ok(())
}

/// The dtype and (where sizes do not decide it) rank of node `id`, from the checks that
/// [`validate`] runs on it and its operands: what a graph builder needs to expand a
/// composite (`batch_norm` reduces every dim but 1) before the graph has sizes.
pub fn value_info(g: &Graph, id: NodeId) -> Result<ValueInfo, IrError> {
    if let Some(info) = g.recorded_info(id) {
        return Ok(info);
    }
    // A check failed on `id` or an ancestor: walk them to report which. Operands come before
    // their users, so checking the ancestors in id order finds every operand's info computed.
    let mut seen = std::collections::BTreeSet::new();
    let mut needed = vec![id];
    while let Some(n) = needed.pop() {
        if seen.insert(n)
            && let NodeKind::Op(op) = &g.node(n).kind
        {
            needed.extend(op.inputs());
        }
    }
    let mut memo: std::collections::HashMap<NodeId, ValueInfo> = Default::default();
    for n in seen {
        let info = node_info(g, n, &|o| {
            memo.get(&o)
                .copied()
                .ok_or_else(|| format!("operand #{} is not defined", o.index()))
        })?;
        memo.insert(n, info);
    }
    Ok(memo[&id])
}

/// Why one op's shape could not be inferred, before the node's name is attached.
#[derive(Debug)]
pub(crate) enum OpError {
    Invalid(String),
    Shape(kiln_shape::ShapeError),
}

impl From<kiln_shape::ShapeError> for OpError {
    fn from(e: kiln_shape::ShapeError) -> OpError {
        OpError::Shape(e)
    }
}
impl From<String> for OpError {
    fn from(msg: String) -> OpError {
        OpError::Invalid(msg)
    }
}

fn op_error(node: &Node, op: &Op, e: OpError) -> IrError {
    match e {
        OpError::Invalid(msg) => invalid(node, op.name(), msg),
        OpError::Shape(source) => IrError::Shape {
            node: node.name.clone(),
            op: op.name().to_string(),
            source,
        },
    }
}

/// The graph's input declarations, once `found` (the number of inputs a caller passed) is
/// checked against them; shared by shape inference and the interpreter.
pub(crate) fn declared_inputs(g: &Graph, found: usize) -> Result<&[InputDecl], IrError> {
    let decls = g.inputs();
    if found != decls.len() {
        return Err(crate::input_error::InputError::Count {
            role: crate::input_error::Role::Input,
            expected: decls.len(),
            found,
        }
        .into());
    }
    Ok(decls)
}

/// Infers every node's type inside `env`, from the specialised input shapes (one per graph
/// input, as `kiln_shape::specialize_inputs` returns them). Decisions that depend on sizes
/// (broadcasting two symbolic dims, pooling windows) go through `env.decide`/`env.specialize`
/// so they become guards. Returns one type per node, indexed by `NodeId::index()`.
pub fn infer_shapes(
    g: &Graph,
    env: &mut ShapeEnv,
    inputs: &[Vec<Expr>],
) -> Result<Vec<TensorType>, IrError> {
    let decls = declared_inputs(g, inputs.len())?;
    for (decl, shape) in decls.iter().zip(inputs) {
        if decl.dims.len() != shape.len() {
            return Err(BindError::Rank {
                input: decl.name.clone(),
                expected: decl.dims.len(),
                found: shape.len(),
            }
            .into());
        }
    }
    let scope = shapes::SymbolScope::new(g, inputs);
    let mut types: Vec<TensorType> = Vec::with_capacity(g.len());
    for id in g.node_ids() {
        let node = g.node(id);
        let ty = match &node.kind {
            NodeKind::Input(i) => {
                let decl = decls
                    .get(*i)
                    .ok_or_else(|| invalid(node, "input", format!("input #{i} is not declared")))?;
                TensorType {
                    dtype: decl.dtype,
                    shape: inputs[*i].clone(),
                }
            }
            NodeKind::Constant(t) => {
                check_constant(t).map_err(|m| invalid(node, "tensor", m))?;
                let shape = t
                    .shape
                    .iter()
                    .map(|&d| i64::try_from(d).map(Expr::int))
                    .collect::<Result<_, _>>()
                    .map_err(|_| invalid(node, "tensor", "a dim is too large".into()))?;
                TensorType {
                    dtype: t.dtype,
                    shape,
                }
            }
            NodeKind::Op(op) => {
                let info = check_op(op, &|o| {
                    lookup_in(&types, o, |t| ValueInfo {
                        dtype: t.dtype,
                        rank: Some(t.shape.len()),
                    })
                })
                .map_err(|m| invalid(node, op.name(), m))?;
                let shape =
                    shapes::infer_op(op, &types, env, &scope).map_err(|e| op_error(node, op, e))?;
                TensorType {
                    dtype: info.dtype,
                    shape,
                }
            }
        };
        types.push(ty);
    }
    Ok(types)
}
