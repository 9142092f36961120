//! The walks every pass shares over an op: its name in the text format, the graph values it
//! reads, and a copy with those values renamed.
use super::{Op, Operand};
use crate::graph::NodeId;

/// Calls `$visit` on every graph-value id an op reads, in argument order (scalar operands
/// are skipped). Written once as a macro so that the shared walk (`Op::inputs`) and the
/// mutable walk (`Op::map_inputs`) cannot drift apart: match ergonomics hand `$visit` a
/// `&NodeId` or a `&mut NodeId` depending on how `$op` is borrowed.
macro_rules! visit_input_ids {
    ($op:expr, $visit:expr) => {{
        // `mut` is needed by visitors that capture state (`inputs` pushes into a Vec) and
        // unused by the ones that only write through their argument (`map_inputs`).
        #[allow(unused_mut)]
        let mut visit = $visit;
        match $op {
            Op::Binary { a, b, .. } => {
                for operand in [a, b] {
                    if let Operand::Value(id) = operand {
                        visit(id);
                    }
                }
            }
            Op::MatMul { a, b } => {
                visit(a);
                visit(b);
            }
            Op::SumTo { x, like } | Op::ExpandAs { x, like } | Op::ReshapeAs { x, like } => {
                visit(x);
                visit(like);
            }
            Op::SliceScatter { input, src, .. } => {
                visit(input);
                visit(src);
            }
            Op::IndexSelect { x, index, .. } | Op::Gather { x, index, .. } => {
                visit(x);
                visit(index);
            }
            Op::Embedding {
                indices, weight, ..
            } => {
                visit(indices);
                visit(weight);
            }
            Op::ScatterAdd { x, index, src, .. }
            | Op::IndexAdd {
                x,
                index,
                source: src,
                ..
            } => {
                visit(x);
                visit(index);
                visit(src);
            }
            Op::CatPart { x, parts, .. } => {
                visit(x);
                for id in parts {
                    visit(id);
                }
            }
            Op::MaxPool2dBackward {
                grad_output, input, ..
            }
            | Op::AvgPool2dBackward {
                grad_output, input, ..
            }
            | Op::AdaptiveAvgPool2dBackward { grad_output, input }
            | Op::AdaptiveMaxPool2dBackward { grad_output, input } => {
                visit(grad_output);
                visit(input);
            }
            Op::Where { cond, a, b } => {
                for operand in [cond, a, b] {
                    if let Operand::Value(id) = operand {
                        visit(id);
                    }
                }
            }
            Op::Unary { x, .. }
            | Op::Cast { x, .. }
            | Op::Reduce { x, .. }
            | Op::Softmax { x, .. }
            | Op::MaxPool2d { x, .. }
            | Op::AvgPool2d { x, .. }
            | Op::AdaptiveAvgPool2d { x, .. }
            | Op::AdaptiveMaxPool2d { x, .. }
            | Op::Reshape { x, .. }
            | Op::Permute { x, .. }
            | Op::Transpose { x, .. }
            | Op::Unsqueeze { x, .. }
            | Op::Squeeze { x, .. }
            | Op::Expand { x, .. }
            | Op::Flatten { x, .. }
            | Op::Unflatten { x, .. }
            | Op::Slice { x, .. }
            | Op::Select { x, .. }
            | Op::Pad { x, .. }
            | Op::Repeat { x, .. }
            | Op::ArgMax { x, .. }
            | Op::ArgMin { x, .. }
            | Op::CumSum { x, .. }
            | Op::MaxPool2dIndices { x, .. } => visit(x),
            Op::Conv { x, w, .. } | Op::ConvTranspose2d { x, w, .. } => {
                visit(x);
                visit(w);
            }
            Op::ConvBackwardInput {
                grad_output: a,
                weight: b,
                input_like: c,
                ..
            }
            | Op::ConvBackwardWeight {
                grad_output: a,
                input: b,
                weight_like: c,
                ..
            } => {
                visit(a);
                visit(b);
                visit(c);
            }
            Op::Cat { xs, .. } => {
                for id in xs {
                    visit(id);
                }
            }
        }
    }};
}

impl Op {
    /// The op's name in the text format.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary { op, .. } => op.name(),
            Op::Binary { op, .. } => op.name(),
            Op::Where { .. } => "where",
            Op::Cast { .. } => "to",
            Op::Reduce { op, .. } => op.name(),
            Op::Softmax { .. } => "softmax",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::AvgPool2d { .. } => "avg_pool2d",
            Op::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d",
            Op::AdaptiveMaxPool2d { .. } => "adaptive_max_pool2d",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Transpose { .. } => "transpose",
            Op::Unsqueeze { .. } => "unsqueeze",
            Op::Squeeze { .. } => "squeeze",
            Op::Expand { .. } => "expand",
            Op::Conv { .. } => "convolution",
            Op::ConvTranspose2d { .. } => "convolution_transpose2d",
            Op::Flatten { .. } => "flatten",
            Op::Unflatten { .. } => "unflatten",
            Op::Cat { .. } => "cat",
            Op::Slice { bounds, .. } => bounds.op_name(),
            Op::Select { .. } => "select",
            Op::Pad { .. } => "pad",
            Op::Repeat { .. } => "repeat",
            Op::ArgMax { .. } => "argmax",
            Op::ArgMin { .. } => "argmin",
            Op::CumSum { .. } => "cumsum",
            Op::MatMul { .. } => "matmul",
            Op::SumTo { .. } => "sum_to",
            Op::ExpandAs { .. } => "expand_as",
            Op::ReshapeAs { .. } => "reshape_as",
            Op::SliceScatter { .. } => "slice_scatter",
            Op::IndexSelect { .. } => "index_select",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::IndexAdd { .. } => "index_add",
            Op::Embedding { .. } => "embedding",
            Op::MaxPool2dIndices { .. } => "max_pool2d_indices",
            Op::CatPart { .. } => "cat_part",
            Op::ConvBackwardInput { .. } => "convolution_backward_input",
            Op::ConvBackwardWeight { .. } => "convolution_backward_weight",
            Op::MaxPool2dBackward { .. } => "max_pool2d_backward",
            Op::AvgPool2dBackward { .. } => "avg_pool2d_backward",
            Op::AdaptiveAvgPool2dBackward { .. } => "adaptive_avg_pool2d_backward",
            Op::AdaptiveMaxPool2dBackward { .. } => "adaptive_max_pool2d_backward",
        }
    }

    /// The graph values this op reads, in argument order.
    pub fn inputs(&self) -> Vec<NodeId> {
        let mut ids = Vec::with_capacity(3);
        visit_input_ids!(self, |id: &NodeId| ids.push(*id));
        ids
    }

    /// The same op with every operand id mapped through `f` (used by canonicalisation).
    pub fn map_inputs(&self, f: &dyn Fn(NodeId) -> NodeId) -> Op {
        let mut op = self.clone();
        visit_input_ids!(&mut op, |id: &mut NodeId| *id = f(*id));
        op
    }
}
