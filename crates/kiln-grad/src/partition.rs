//! Splitting a joint graph into a forward graph and a backward graph, and choosing what the
//! forward saves for the backward.
//!
//! The policy is AOTAutograd's in spirit: the backward **recomputes** cheap values (elementwise
//! ops, views, constants, fills) from what it already has, and the forward **saves** the
//! results of the ops that are expensive to redo (matmul, convolution, reductions, pooling,
//! softmax) that the backward reads. Graph inputs and parameters are passed to both graphs,
//! never saved. The forward graph is the original with the saved values as extra outputs; the
//! backward graph takes the graph inputs it reads, the saved values and (for
//! [`crate::Seed::Cotangent`]) the cotangent, and returns the gradients.
//!
//! A saved value's declared dims come from shape inference at example sizes: a constant stays a
//! constant, a plain symbol stays that symbol, and a derived size (`(H + 1) // 2`) becomes a
//! fresh symbol of the backward graph, bound from the saved tensor at call time; shape
//! inference of the backward then guards the relations it relies on.
use std::collections::BTreeSet;

use kiln_ir::{Graph, InputKind, NodeId, NodeKind, Op, infer_shapes};
use kiln_shape::{Dim, Policy, ShapeEnv, bind_symbols, specialize_inputs};

use crate::{GradError, GradSpec, grad};

/// A joint graph split in two, and the choice made.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The original graph with the saved values appended to its outputs.
    pub forward: Graph,
    /// Inputs: the graph inputs the backward reads (in the original order), then the saved
    /// values, then the cotangent if any; outputs: `grad_<name>` per differentiated input.
    pub backward: Graph,
    /// The names of the saved values, in the order they follow the forward's outputs.
    pub saved: Vec<String>,
    /// The forward values the backward recomputes instead of saving.
    pub recomputed: Vec<String>,
}

/// Whether the backward may recompute `op` rather than have the forward save its result.
fn is_cheap(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary { .. }
            | Op::Binary { .. }
            | Op::Where { .. }
            | Op::Cast { .. }
            | Op::Reshape { .. }
            | Op::Permute { .. }
            | Op::Transpose { .. }
            | Op::Unsqueeze { .. }
            | Op::Squeeze { .. }
            | Op::Expand { .. }
            | Op::Flatten { .. }
            | Op::Unflatten { .. }
            | Op::ExpandAs { .. }
            | Op::ReshapeAs { .. }
            | Op::Slice { .. }
            | Op::Select { .. }
    )
}

/// The forward and backward graphs of `g` for `spec`; `example` gives one size per dim of every
/// input (the sizes the saved values' dims are classified at).
pub fn partition(g: &Graph, spec: &GradSpec, example: &[Vec<i64>]) -> Result<Partition, GradError> {
    let joint = grad(g, spec)?;
    let n_fwd = g.len();
    let is_fwd = |id: NodeId| id.index() < n_fwd;
    // What the backward reads from the forward, directly.
    let mut wanted: BTreeSet<NodeId> = BTreeSet::new();
    for id in joint.node_ids().filter(|&id| !is_fwd(id)) {
        if let NodeKind::Op(op) = &joint.node(id).kind {
            wanted.extend(op.inputs().into_iter().filter(|&i| is_fwd(i)));
        }
    }
    // Close over recomputation: a cheap wanted value pulls in its operands.
    let mut saved: BTreeSet<NodeId> = BTreeSet::new();
    let mut recomputed: BTreeSet<NodeId> = BTreeSet::new();
    let mut inputs_used: BTreeSet<NodeId> = BTreeSet::new();
    let mut stack: Vec<NodeId> = wanted.into_iter().collect();
    while let Some(id) = stack.pop() {
        if saved.contains(&id) || recomputed.contains(&id) || inputs_used.contains(&id) {
            continue;
        }
        match &joint.node(id).kind {
            NodeKind::Input(_) => {
                inputs_used.insert(id);
            }
            NodeKind::Constant(_) => {
                recomputed.insert(id);
            }
            NodeKind::Op(op) if is_cheap(op) => {
                recomputed.insert(id);
                stack.extend(op.inputs());
            }
            NodeKind::Op(_) => {
                saved.insert(id);
            }
        }
    }
    let dims = saved_dims(&joint, &saved, example)?;
    let forward = forward_graph(g, &saved)?;
    let backward = backward_graph(&joint, n_fwd, &inputs_used, &saved, &recomputed, &dims)?;
    let names = |set: &BTreeSet<NodeId>| set.iter().map(|&i| joint.node(i).name.clone()).collect();
    Ok(Partition {
        forward,
        backward,
        saved: names(&saved),
        recomputed: names(&recomputed),
    })
}

/// The declared dims of each saved value (see the module docs).
fn saved_dims(
    joint: &Graph,
    saved: &BTreeSet<NodeId>,
    example: &[Vec<i64>],
) -> Result<Vec<Vec<Dim>>, GradError> {
    let decls = joint.input_dims();
    // The joint graph may have a cotangent input after the original ones; the example covers
    // the original inputs, and the cotangent's dims are symbols or constants of those.
    let bindings =
        bind_symbols(&decls[..example.len()], example).map_err(kiln_ir::IrError::from)?;
    let mut env = ShapeEnv::new();
    let shape_error = |source| kiln_ir::IrError::Shape {
        node: "inputs".to_string(),
        op: "input".to_string(),
        source,
    };
    let specialised =
        specialize_inputs(&mut env, &decls, &bindings, &Policy::Dynamic).map_err(shape_error)?;
    let types = infer_shapes(joint, &mut env, &specialised)?;
    Ok(saved
        .iter()
        .map(|&id| {
            let name = &joint.node(id).name;
            types[id.index()]
                .shape
                .iter()
                .enumerate()
                .map(|(k, e)| match (e.as_int(), e.as_sym()) {
                    (Some(v), _) => Dim::Fixed(v),
                    (None, Some(s)) => Dim::sym(s),
                    (None, None) => Dim::Sym(format!("{name}_d{k}")),
                })
                .collect()
        })
        .collect())
}

fn forward_graph(g: &Graph, saved: &BTreeSet<NodeId>) -> Result<Graph, GradError> {
    let mut forward = g.clone();
    let mut outputs = g.outputs().to_vec();
    outputs.extend(saved.iter().copied());
    forward.set_outputs(outputs)?;
    Ok(forward)
}

fn backward_graph(
    joint: &Graph,
    n_fwd: usize,
    inputs_used: &BTreeSet<NodeId>,
    saved: &BTreeSet<NodeId>,
    recomputed: &BTreeSet<NodeId>,
    dims: &[Vec<Dim>],
) -> Result<Graph, GradError> {
    let mut b = Graph::new(&format!("{}_backward", joint.name));
    let mut map: Vec<Option<NodeId>> = vec![None; joint.len()];
    for &id in inputs_used {
        let NodeKind::Input(i) = joint.node(id).kind else {
            unreachable!("inputs_used holds inputs")
        };
        let decl = &joint.inputs()[i];
        let new = match decl.kind {
            InputKind::Data => b.add_input(&decl.name, decl.dtype, decl.dims.clone())?,
            InputKind::Param => {
                let shape = decl.fixed_shape().expect("parameters have fixed shapes");
                b.add_param(&decl.name, decl.dtype, &shape)?
            }
        };
        map[id.index()] = Some(new);
    }
    for (&id, dims) in saved.iter().zip(dims) {
        let node = joint.node(id);
        let dtype = kiln_ir::value_info(joint, id)?.dtype;
        map[id.index()] = Some(b.add_input(&node.name, dtype, dims.clone())?);
    }
    for id in joint.node_ids() {
        let keep = recomputed.contains(&id) || id.index() >= n_fwd;
        if !keep || map[id.index()].is_some() {
            continue;
        }
        let node = joint.node(id);
        let new = match &node.kind {
            NodeKind::Input(i) => {
                let decl = &joint.inputs()[*i];
                b.add_input(&decl.name, decl.dtype, decl.dims.clone())?
            }
            NodeKind::Constant(t) => b.add_constant(&node.name, t.clone())?,
            NodeKind::Op(op) => {
                let op = op.map_inputs(&|i| map[i.index()].expect("operands come first"));
                b.add_op(&node.name, op)?
            }
        };
        map[id.index()] = Some(new);
    }
    let grads = joint.outputs()[joint.outputs().len() - grad_count(joint, n_fwd)..]
        .iter()
        .map(|&o| map[o.index()].expect("gradients are backward nodes"))
        .collect();
    b.set_outputs(grads)?;
    kiln_ir::validate(&b)?;
    Ok(b)
}

/// How many of the joint graph's outputs are gradients (they are backward nodes, after the
/// forward's outputs).
fn grad_count(joint: &Graph, n_fwd: usize) -> usize {
    joint
        .outputs()
        .iter()
        .rev()
        .take_while(|o| o.index() >= n_fwd)
        .count()
}
