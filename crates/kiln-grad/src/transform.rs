//! The reverse walk: seed the output's cotangent, visit the nodes that lie between the
//! differentiated inputs and the output in reverse order, call each op's rule, and sum the
//! contributions every value receives.
use kiln_ir::{Graph, NodeId, NodeKind};

use crate::vjp::{self, Cx};
use crate::{GradError, GradSpec, Seed, grad_name};

/// The joint graph of `g` for `spec`: every node of `g` (same names, same ids), then the
/// backward; outputs are `g`'s outputs followed by `grad_<name>` for each of `spec.wrt`. An
/// input the output does not depend on gets a zero gradient.
pub fn grad(g: &Graph, spec: &GradSpec) -> Result<Graph, GradError> {
    kiln_ir::validate(g)?;
    let out = find_output(g, &spec.output)?;
    let wrt = spec
        .wrt
        .iter()
        .map(|name| find_input(g, name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cx = Cx::new(g)?;
    let out_dtype = cx.info(out).dtype;
    if !out_dtype.is_float() {
        return Err(GradError::OutputNotFloat {
            name: spec.output.clone(),
            dtype: out_dtype,
        });
    }
    for (&id, name) in wrt.iter().zip(&spec.wrt) {
        let dtype = cx.info(id).dtype;
        if !dtype.is_float() {
            return Err(GradError::NotFloat {
                name: name.clone(),
                dtype,
            });
        }
    }
    let seed = seed(&mut cx, out, spec)?;
    let active = active_nodes(g, &wrt, out, &cx);
    let mut cts: Vec<Option<NodeId>> = vec![None; g.len()];
    cts[out.index()] = Some(seed);
    for id in (0..=out.index()).rev().map(NodeId::new) {
        let (Some(ct), true) = (cts[id.index()], active[id.index()]) else {
            continue;
        };
        let NodeKind::Op(op) = &g.node(id).kind else {
            continue;
        };
        let inputs = op.inputs();
        let needs: Vec<bool> = inputs.iter().map(|i| active[i.index()]).collect();
        if !needs.contains(&true) {
            continue;
        }
        cx.begin(id);
        let contributions = vjp::vjp(&mut cx, id, op, ct, &needs)?;
        for ((&input, contribution), &need) in inputs.iter().zip(contributions).zip(&needs) {
            if let (Some(c), true) = (contribution, need) {
                cts[input.index()] = Some(cx.accumulate(input, cts[input.index()], c)?);
            }
        }
    }
    let mut outputs = g.outputs().to_vec();
    for (&id, name) in wrt.iter().zip(&spec.wrt) {
        cx.begin(id);
        let gradient = match cts[id.index()] {
            Some(ct) => ct,
            None => cx.zeros_like(id)?,
        };
        outputs.push(cx.rename(gradient, &grad_name(name))?);
    }
    let mut joint = cx.finish();
    joint.set_outputs(outputs)?;
    kiln_ir::validate(&joint)?;
    Ok(joint)
}

fn find_output(g: &Graph, name: &str) -> Result<NodeId, GradError> {
    g.outputs()
        .iter()
        .copied()
        .find(|&o| g.node(o).name == name)
        .ok_or_else(|| GradError::UnknownOutput {
            name: name.to_string(),
            graph: g.name.clone(),
            outputs: g.output_names().join(", "),
        })
}

fn find_input(g: &Graph, name: &str) -> Result<NodeId, GradError> {
    g.find(name)
        .filter(|&id| matches!(g.node(id).kind, NodeKind::Input(_)))
        .ok_or_else(|| GradError::UnknownInput {
            name: name.to_string(),
            graph: g.name.clone(),
        })
}

/// The output's cotangent: ones of its shape, or the caller's, a new input.
fn seed(cx: &mut Cx, out: NodeId, spec: &GradSpec) -> Result<NodeId, GradError> {
    cx.begin(out);
    let dtype = cx.info(out).dtype;
    match &spec.seed {
        Seed::Sum => cx.full_like(out, 1.0, dtype),
        Seed::Cotangent(dims) => {
            let rank = cx.rank_of(out)?;
            if dims.len() != rank {
                return Err(GradError::Cotangent {
                    output: spec.output.clone(),
                    msg: format!(
                        "declared with {} dims but the output has rank {rank}",
                        dims.len()
                    ),
                });
            }
            cx.add_input(&grad_name(&spec.output), dtype, dims.clone())
        }
    }
}

/// Which nodes carry a gradient: floating-point values that depend on a differentiated input
/// and that the output depends on.
fn active_nodes(g: &Graph, wrt: &[NodeId], out: NodeId, cx: &Cx) -> Vec<bool> {
    let n = g.len();
    let is_float = |id: NodeId| cx.info(id).dtype.is_float();
    let mut from_wrt = vec![false; n];
    for &w in wrt {
        from_wrt[w.index()] = true;
    }
    for id in g.node_ids() {
        if let NodeKind::Op(op) = &g.node(id).kind {
            from_wrt[id.index()] = is_float(id) && op.inputs().iter().any(|i| from_wrt[i.index()]);
        }
    }
    let mut to_out = vec![false; n];
    to_out[out.index()] = true;
    for id in (0..n).rev().map(NodeId::new) {
        if !to_out[id.index()] {
            continue;
        }
        if let NodeKind::Op(op) = &g.node(id).kind {
            for i in op.inputs() {
                to_out[i.index()] = true;
            }
        }
    }
    (0..n).map(|i| from_wrt[i] && to_out[i]).collect()
}
