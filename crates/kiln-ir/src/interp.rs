//! The reference interpreter: obvious, not fast; the oracle for every backend.
//!
//! Every value is held as f64 numbers in C order. Each op computes in f64 and rounds its
//! results to the output dtype with [`round_to`], as PyTorch rounds when it writes an op's
//! result; reductions accumulate in f64 and round once at the end. Shapes come from
//! [`infer_shapes`] run in a fully static [`ShapeEnv`], so the interpreter applies exactly the
//! shape rules the compiler does.
mod conv;
mod conv_grad;
mod elementwise;
mod erf;
mod grad;
mod index;
mod layout;
mod linalg;
mod movement;
mod pool;
mod pool_grad;
mod reduce;

use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

use crate::graph::{Graph, NodeKind};
use crate::infer::{declared_inputs, infer_shapes, validate};
use crate::input_error::{InputError, Role, check_bytes, check_dtype};
use crate::op::Op;
use crate::tensor::{Tensor, round_to};
use crate::{dtype::DType, error::IrError};

pub use erf::erf;

/// A computed value: dtype, concrete shape, elements widened to f64 in C order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Value {
    fn from_tensor(t: &Tensor) -> Value {
        Value {
            dtype: t.dtype,
            shape: t.shape.clone(),
            data: t.to_f64(),
        }
    }

    /// A value whose elements are rounded to `dtype`.
    pub fn rounded(dtype: DType, shape: Vec<usize>, data: Vec<f64>) -> Value {
        let data = data.into_iter().map(|v| round_to(dtype, v)).collect();
        Value { dtype, shape, data }
    }
}

/// The number of elements of a shape.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// C-order strides of a shape, in elements.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// For every element of `out_shape` in C order, the offset `sum(index[i] * strides[i])`.
/// With strides of a permuted or broadcast (stride 0) input this is a gather map.
pub(crate) fn gather_offsets(out_shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n = numel(out_shape);
    let mut offsets = Vec::with_capacity(n);
    let mut index = vec![0usize; out_shape.len()];
    let mut offset = 0usize;
    for _ in 0..n {
        offsets.push(offset);
        // Odometer increment, innermost dim first.
        for d in (0..out_shape.len()).rev() {
            index[d] += 1;
            offset += strides[d];
            if index[d] < out_shape[d] {
                break;
            }
            offset -= strides[d] * index[d];
            index[d] = 0;
        }
    }
    offsets
}

/// The gather map that broadcasts `in_shape` (right-aligned) to `out_shape`.
pub(crate) fn broadcast_offsets(in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let lead = out_shape.len() - in_shape.len();
    let in_strides = strides(in_shape);
    let mut s = vec![0; out_shape.len()];
    for (i, &d) in in_shape.iter().enumerate() {
        s[lead + i] = if d == 1 { 0 } else { in_strides[i] };
    }
    gather_offsets(out_shape, &s)
}

/// Checks the inputs against the declarations and returns their shapes as i64.
fn check_inputs(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Vec<i64>>, IrError> {
    let decls = declared_inputs(g, inputs.len())?;
    let mut shapes = Vec::with_capacity(inputs.len());
    for (decl, t) in decls.iter().zip(inputs) {
        let role = if decl.is_param() {
            Role::Param
        } else {
            Role::Input
        };
        check_dtype(role, &decl.name, decl.dtype, t)?;
        check_bytes(role, &decl.name, t)?;
        // Sizes are below usize::MAX / dtype size here, so they fit an i64 on 64-bit hosts.
        let shape = t
            .shape
            .iter()
            .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
            .collect();
        shapes.push(shape);
    }
    Ok(shapes)
}

/// Evaluates one op on the values of the nodes before it. `dtype` and `shape` are the
/// result's, from shape inference.
fn eval_op(op: &Op, values: &[Value], dtype: DType, shape: &[usize]) -> Result<Value, String> {
    let get = |id: crate::graph::NodeId| {
        values
            .get(id.index())
            .ok_or_else(|| format!("operand #{} is not defined", id.index()))
    };
    match op {
        Op::Unary { op, x } => Ok(elementwise::unary(*op, get(*x)?, dtype)),
        Op::Binary { op, a, b } => elementwise::binary(*op, a, b, values, dtype, shape),
        Op::Where { cond, a, b } => elementwise::select(cond, a, b, values, dtype, shape),
        Op::Cast { x, dtype } => {
            let x = get(*x)?;
            Ok(Value::rounded(*dtype, x.shape.clone(), x.data.clone()))
        }
        Op::Reduce {
            op,
            x,
            dims,
            keepdim: _,
        } => reduce::reduce(*op, get(*x)?, dims, dtype, shape),
        Op::Softmax { x, dim } => reduce::softmax(get(*x)?, *dim),
        Op::MaxPool2d { x, params } => Ok(pool::max_pool2d(get(*x)?, params, shape)),
        Op::MaxPool2dIndices { x, params } => Ok(pool::max_pool2d_indices(get(*x)?, params, shape)),
        Op::AvgPool2d { x, params } => Ok(pool::avg_pool2d(get(*x)?, params, shape)),
        Op::AdaptiveAvgPool2d { x, .. } => Ok(pool::adaptive_pool2d(get(*x)?, shape, false)),
        Op::AdaptiveMaxPool2d { x, .. } => Ok(pool::adaptive_pool2d(get(*x)?, shape, true)),
        Op::Reshape { x, .. }
        | Op::Unsqueeze { x, .. }
        | Op::Squeeze { x, .. }
        | Op::Flatten { x, .. }
        | Op::Unflatten { x, .. } => Ok(layout::reshape(get(*x)?, shape)),
        Op::Permute { x, dims } => layout::permute(get(*x)?, dims),
        Op::Transpose { x, dim0, dim1 } => layout::transpose(get(*x)?, *dim0, *dim1),
        Op::Expand { x, .. } => Ok(layout::expand(get(*x)?, shape)),
        Op::Conv { x, w, params } => Ok(conv::conv(get(*x)?, get(*w)?, params, shape)),
        Op::ConvTranspose2d { x, w, params } => {
            Ok(conv::conv_transpose2d(get(*x)?, get(*w)?, params, shape))
        }
        Op::Cat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::Pad { .. }
        | Op::Repeat { .. } => movement::eval(op, values, dtype, shape),
        Op::ArgMax { x, dim, .. } => index::arg_extreme(get(*x)?, *dim, true, shape),
        Op::ArgMin { x, dim, .. } => index::arg_extreme(get(*x)?, *dim, false, shape),
        Op::CumSum { x, dim } => index::cumsum(get(*x)?, *dim, dtype),
        Op::MatMul { a, b } => Ok(linalg::matmul(get(*a)?, get(*b)?, dtype, shape)),
        Op::SumTo { x, .. } => Ok(grad::sum_to(get(*x)?, dtype, shape)),
        Op::ExpandAs { x, .. } => Ok(layout::expand(get(*x)?, shape)),
        Op::ReshapeAs { x, .. } => Ok(layout::reshape(get(*x)?, shape)),
        Op::SliceScatter {
            input,
            src,
            dim,
            bounds,
        } => Ok(grad::slice_scatter(
            get(*input)?,
            get(*src)?,
            *dim,
            bounds,
            dtype,
        )),
        Op::IndexSelect { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::IndexAdd { .. }
        | Op::Embedding { .. } => index::gather::eval(op, &get, dtype, shape),
        Op::CatPart {
            x,
            parts,
            dim,
            index,
        } => {
            let parts = parts
                .iter()
                .map(|&p| get(p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(grad::cat_part(get(*x)?, &parts, *dim, *index, dtype))
        }
        Op::ConvBackwardInput {
            grad_output,
            weight,
            params,
            ..
        } => Ok(conv_grad::backward_input(
            get(*grad_output)?,
            get(*weight)?,
            params,
            shape,
        )),
        Op::ConvBackwardWeight {
            grad_output,
            input,
            params,
            ..
        } => Ok(conv_grad::backward_weight(
            get(*grad_output)?,
            get(*input)?,
            params,
            shape,
        )),
        Op::MaxPool2dBackward {
            grad_output,
            input,
            params,
        } => Ok(pool_grad::max_pool2d_backward(
            get(*grad_output)?,
            get(*input)?,
            params,
        )),
        Op::AvgPool2dBackward {
            grad_output,
            input,
            params,
        } => Ok(pool_grad::avg_pool2d_backward(
            get(*grad_output)?,
            get(*input)?,
            params,
        )),
        Op::AdaptiveAvgPool2dBackward { grad_output, input }
        | Op::AdaptiveMaxPool2dBackward { grad_output, input } => {
            Ok(pool_grad::adaptive_pool2d_backward(
                get(*grad_output)?,
                get(*input)?,
                matches!(op, Op::AdaptiveMaxPool2dBackward { .. }),
            ))
        }
    }
}

/// Evaluates the graph on concrete inputs (in the order of `g.inputs()`), returning the outputs
/// in the order of `g.outputs()`.
pub fn interpret(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    validate(g)?;
    let shapes = check_inputs(g, inputs)?;
    let decls = g.input_dims();
    let bindings = bind_symbols(&decls, &shapes).map_err(InputError::from)?;
    let mut env = ShapeEnv::new();
    let specialised =
        specialize_inputs(&mut env, &decls, &bindings, &Policy::Static).map_err(|source| {
            IrError::Shape {
                node: "inputs".to_string(),
                op: "input".to_string(),
                source,
            }
        })?;
    let types = infer_shapes(g, &mut env, &specialised)?;

    let mut values: Vec<Value> = Vec::with_capacity(g.len());
    for id in g.node_ids() {
        let node = g.node(id);
        let value = match &node.kind {
            NodeKind::Input(i) => Value::from_tensor(&inputs[*i]),
            NodeKind::Constant(t) => Value::from_tensor(t),
            NodeKind::Op(op) => {
                let invalid = |msg: String| IrError::Invalid {
                    node: node.name.clone(),
                    op: op.name().to_string(),
                    msg,
                };
                let ty = &types[id.index()];
                let shape = ty
                    .shape
                    .iter()
                    .map(|d| d.as_int().and_then(|v| usize::try_from(v).ok()))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| {
                        invalid(format!(
                            "shape {:?} did not specialise to concrete sizes",
                            ty.shape
                        ))
                    })?;
                let v = eval_op(op, &values, ty.dtype, &shape).map_err(invalid)?;
                if v.shape != shape || v.data.len() != numel(&shape) || v.dtype != ty.dtype {
                    return Err(invalid(format!(
                        "internal error: computed a {} value of shape {:?}, expected {} {:?}",
                        v.dtype, v.shape, ty.dtype, shape
                    )));
                }
                v
            }
        };
        values.push(value);
    }
    Ok(g.outputs()
        .iter()
        .map(|o| {
            let v = &values[o.index()];
            Tensor::from_f64(v.dtype, &v.shape, &v.data)
        })
        .collect())
}
