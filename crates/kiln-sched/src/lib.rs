//! From a specialised graph to kernel IR, shared by the CPU and CUDA backends.
//!
//! [`schedule`] infers shapes inside the [`ShapeEnv`] (recording the guards shape inference
//! needs), decides fusion (see `lower.rs`), records the int32-indexing guards, and returns a
//! [`Program`]. Backends turn each [`Kernel`] into machine code; the program itself is plain
//! data (serde) and travels in cache entries next to that code.

mod access;
mod access_memo;
mod block;
mod dump;
mod epilogue;
mod error;
mod index_call;
pub mod ir;
mod library;
mod lifetimes;
mod lower;
mod pool;
mod softmax;
mod verify;
mod verify_steps;

pub use access::{AccessCheck, AccessError};
pub use access_memo::ArtifactDigest;
pub use error::SchedError;
pub use index_call::{IndexAt, PoolIndicesAt};
pub use ir::*;
pub use library::{
    ConvAt, GemmAt, LaunchAt, MatrixAt, PoolBackwardAt, conv_out_size, conv_transpose_out_size,
    pool_out_size,
};
pub use lifetimes::Lifetime;
pub use lower::{SchedOptions, contiguous_offset, numel};
pub use verify::VerifyError;

use kiln_ir::Graph;
use kiln_shape::{Expr, ShapeEnv};
use std::collections::BTreeSet;

/// Lowers `graph`, whose inputs have the specialised shapes `inputs` (as
/// [`kiln_shape::specialize_inputs`] returns them), to a program of fused kernels.
pub fn schedule(
    graph: &Graph,
    env: &mut ShapeEnv,
    inputs: &[Vec<Expr>],
    opts: &SchedOptions,
) -> Result<Program, SchedError> {
    let types = kiln_ir::infer_shapes(graph, env, inputs)?;
    let lowerer = lower::Lowerer::new(graph, env, types.clone(), opts);
    let lowered = lowerer.run()?;
    let symbols: BTreeSet<String> = inputs.iter().flatten().flat_map(|e| e.symbols()).collect();
    let spec = |name: &str, id: kiln_ir::NodeId| TensorSpec {
        name: name.to_string(),
        dtype: types[id.index()].dtype,
        shape: types[id.index()].shape.clone(),
    };
    let in_specs = graph
        .inputs()
        .iter()
        .map(|d| spec(&d.name, graph.find(&d.name).expect("input node")))
        .collect();
    let out_specs = graph
        .outputs()
        .iter()
        .zip(lowered.outputs)
        .map(|(&o, b)| (spec(&graph.node(o).name, o), b))
        .collect();
    let program = Program {
        graph_name: graph.name.clone(),
        symbols: symbols.into_iter().collect(),
        inputs: in_specs,
        outputs: out_specs,
        buffers: lowered.buffers,
        kernels: lowered.kernels,
        steps: lowered.steps,
    };
    tracing::debug!(target: "kiln::sched", "kernel IR for `{}`:\n{}", graph.name, program);
    program.verify()?;
    Ok(program)
}
