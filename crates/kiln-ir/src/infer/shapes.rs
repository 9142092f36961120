//! Shape rules per op, over symbolic sizes. Runs after [`super::check`] accepted the op, so
//! ranks and argument values are known to be valid here.
use std::collections::HashMap;

use kiln_shape::{Cond, Dim, Expr, ShapeEnv, ShapeError};

use super::check::{normalize_dim, normalize_dims};
use super::{OpError, TensorType, conv, flatten, pool};
use crate::graph::{Graph, NodeId};
use crate::op::{Op, Operand, ReduceOp};

/// Resolves symbol names written in `reshape`/`expand` lists to the expressions the inputs
/// bound them to (a constant under a static policy, the symbol itself under a dynamic one).
pub(crate) struct SymbolScope {
    bound: HashMap<String, Expr>,
}

impl SymbolScope {
    pub(crate) fn new(g: &Graph, inputs: &[Vec<Expr>]) -> SymbolScope {
        let mut bound = HashMap::new();
        for (decl, shape) in g.inputs().iter().zip(inputs) {
            for (dim, e) in decl.dims.iter().zip(shape) {
                if let Dim::Sym(name) = dim {
                    bound.entry(name.clone()).or_insert_with(|| e.clone());
                }
            }
        }
        SymbolScope { bound }
    }

    fn resolve(&self, env: &ShapeEnv, d: &Dim) -> Result<Expr, OpError> {
        match d {
            Dim::Fixed(v) => Ok(Expr::int(*v)),
            Dim::Sym(name) => match self.bound.get(name) {
                Some(e) => Ok(e.clone()),
                None if env.symbol(name).is_some() => Ok(Expr::sym(name)),
                None => Err(OpError::Invalid(format!(
                    "symbol `{name}` is not bound by any input nor defined in the shape \
                     environment"
                ))),
            },
        }
    }
}

pub(crate) fn show_shape(shape: &[Expr]) -> String {
    let parts: Vec<String> = shape.iter().map(|e| e.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

fn product(shape: &[Expr]) -> Expr {
    shape.iter().fold(Expr::int(1), |acc, d| &acc * d)
}

fn is_one(e: &Expr) -> bool {
    e.as_int() == Some(1)
}

/// Whether `e` is 1 in this specialisation: a literal, or a derived size (a pool's output)
/// whose ranges or hint say so. Asking the env records the answer as a guard, so a size that
/// is 1 here and 2 in another call gets its own entry; a symbol (range >= 2) records nothing.
pub fn known_one(env: &mut ShapeEnv, e: &Expr) -> Result<bool, ShapeError> {
    Ok(is_one(e) || env.decide(&Cond::eq(e.clone(), Expr::int(1)))?)
}

/// Broadcasts one pair of dims; `None` when they are incompatible.
fn broadcast_dim(env: &mut ShapeEnv, a: &Expr, b: &Expr) -> Result<Option<Expr>, OpError> {
    if a == b || is_one(b) {
        return Ok(Some(a.clone()));
    }
    if is_one(a) {
        return Ok(Some(b.clone()));
    }
    let one = Expr::int(1);
    if env.decide(&Cond::eq(a.clone(), b.clone()))? {
        return Ok(Some(a.clone()));
    }
    if env.decide(&Cond::eq(a.clone(), one.clone()))? {
        return Ok(Some(b.clone()));
    }
    if env.decide(&Cond::eq(b.clone(), one))? {
        return Ok(Some(a.clone()));
    }
    Ok(None)
}

/// Right-aligned broadcasting of two shapes, PyTorch's rule.
pub(crate) fn broadcast(env: &mut ShapeEnv, a: &[Expr], b: &[Expr]) -> Result<Vec<Expr>, OpError> {
    let n = a.len().max(b.len());
    let one = Expr::int(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // Position i counted from the left of the result; missing leading dims are 1.
        let da = (i + a.len()).checked_sub(n).map_or(&one, |j| &a[j]);
        let db = (i + b.len()).checked_sub(n).map_or(&one, |j| &b[j]);
        match broadcast_dim(env, da, db)? {
            Some(d) => out.push(d),
            None => {
                return Err(OpError::Invalid(format!(
                    "cannot broadcast shapes {} and {}: dim {i} of the result is {da} in one \
                     and {db} in the other",
                    show_shape(a),
                    show_shape(b)
                )));
            }
        }
    }
    Ok(out)
}

fn operand_shape<'a>(types: &'a [TensorType], o: &Operand) -> Option<&'a [Expr]> {
    match o {
        Operand::Value(id) => types.get(id.index()).map(|t| t.shape.as_slice()),
        Operand::Scalar(_) => None,
    }
}

fn broadcast_operands(
    env: &mut ShapeEnv,
    types: &[TensorType],
    operands: &[&Operand],
) -> Result<Vec<Expr>, OpError> {
    let mut out: Vec<Expr> = Vec::new();
    for o in operands {
        if let Some(s) = operand_shape(types, o) {
            out = broadcast(env, &out, s)?;
        }
    }
    Ok(out)
}

/// Writes `numel / product(sizes without the -1 entry)` as `quotient / divisor` with every
/// single-symbol size cancelled exactly where `numel` is a multiple of that symbol, so that
/// `[N, 4] -> [N, 2, -1]` infers `2` rather than `(4*N)//(2*N)`, and the divisibility guard
/// is on what remains.
fn cancel_symbols(numel: &Expr, sizes: &[Expr], skip: usize) -> (Expr, Expr) {
    let mut quotient = numel.clone();
    let mut divisor = Expr::int(1);
    for (i, size) in sizes.iter().enumerate() {
        if i == skip {
            continue;
        }
        let cancelled = size.as_sym().and_then(|s| match quotient.linear_in(s) {
            Some((coeff, rest)) if rest.as_int() == Some(0) && coeff.as_int() != Some(0) => {
                Some(coeff)
            }
            _ => None,
        });
        match cancelled {
            Some(coeff) => quotient = coeff,
            None => divisor = &divisor * size,
        }
    }
    (quotient, divisor)
}

pub(crate) fn reshape(
    env: &mut ShapeEnv,
    scope: &SymbolScope,
    input: &[Expr],
    target: &[Dim],
) -> Result<Vec<Expr>, OpError> {
    let numel = product(input);
    let mut out = Vec::with_capacity(target.len());
    let mut inferred = None;
    for (i, d) in target.iter().enumerate() {
        if *d == Dim::Fixed(-1) {
            inferred = Some(i);
            out.push(Expr::int(1));
        } else {
            out.push(scope.resolve(env, d)?);
        }
    }
    // With the -1 entry still 1, this is the product of the given sizes.
    let known = product(&out);
    let written: Vec<String> = target.iter().map(|d| d.to_string()).collect();
    let written = format!("[{}]", written.join(", "));
    match inferred {
        Some(pos) => {
            if env.decide(&Cond::eq(known.clone(), Expr::int(0)))? {
                return Err(OpError::Invalid(format!(
                    "cannot reshape a tensor of {numel} elements into shape {written}: the other \
                     sizes multiply to 0, so the -1 dim would be ambiguous"
                )));
            }
            let (quotient, divisor) = cancel_symbols(&numel, &out, pos);
            let rem = quotient.modulo(&divisor);
            if !env.decide(&Cond::eq(rem, Expr::int(0)))? {
                return Err(OpError::Invalid(format!(
                    "shape {written} is invalid for an input of {numel} elements (shape {}): \
                     {numel} is not a multiple of {known}",
                    show_shape(input)
                )));
            }
            out[pos] = quotient.floor_div(&divisor);
        }
        None => {
            if !env.decide(&Cond::eq(known.clone(), numel.clone()))? {
                return Err(OpError::Invalid(format!(
                    "cannot reshape shape {} ({numel} elements) into {written} ({known} elements)",
                    show_shape(input)
                )));
            }
        }
    }
    Ok(out)
}

fn expand(
    env: &mut ShapeEnv,
    scope: &SymbolScope,
    input: &[Expr],
    target: &[Dim],
) -> Result<Vec<Expr>, OpError> {
    let lead = target.len().saturating_sub(input.len());
    let mut out = Vec::with_capacity(target.len());
    for (i, d) in target.iter().enumerate() {
        let current = i.checked_sub(lead).map(|j| &input[j]);
        let wanted = if *d == Dim::Fixed(-1) {
            None
        } else {
            Some(scope.resolve(env, d)?)
        };
        let dim = match (current, wanted) {
            (Some(c), None) => c.clone(),
            (None, Some(t)) => t,
            (Some(c), Some(t)) => {
                if &t == c
                    || is_one(c)
                    || env.decide(&Cond::eq(c.clone(), t.clone()))?
                    || known_one(env, c)?
                {
                    t
                } else {
                    return Err(OpError::Invalid(format!(
                        "the expanded size {t} must match the existing size {c} at dim {i} \
                         (input shape {}, a non-1 dim can only expand to itself)",
                        show_shape(input)
                    )));
                }
            }
            (None, None) => {
                return Err(OpError::Invalid(
                    "the expanded size -1 is not allowed in a leading, non-existing dimension"
                        .into(),
                ));
            }
        };
        out.push(dim);
    }
    Ok(out)
}

/// `amax`/`amin` have no identity: PyTorch refuses a reduced dim of size 0, and a reduction
/// over all dims (none named) of an empty tensor.
fn require_nonempty_reduction(
    env: &mut ShapeEnv,
    op: ReduceOp,
    shape: &[Expr],
    reduced: &[usize],
    all: bool,
) -> Result<(), OpError> {
    let zero = |env: &mut ShapeEnv, e: &Expr| env.decide(&Cond::eq(e.clone(), Expr::int(0)));
    if all && !shape.is_empty() && zero(env, &product(shape))? {
        return Err(OpError::Invalid(format!(
            "{}: expected reduction dim to be specified for an input with 0 elements (shape {})",
            op.name(),
            show_shape(shape)
        )));
    }
    // A 0-d input "reduces" its dim 0, which it does not have (one element, never empty).
    for (d, size) in reduced.iter().filter_map(|&d| shape.get(d).map(|s| (d, s))) {
        if zero(env, size)? {
            return Err(OpError::Invalid(format!(
                "{}: expected reduction dim {d} to have non-zero size (input shape {})",
                op.name(),
                show_shape(shape)
            )));
        }
    }
    Ok(())
}

fn input_shape(types: &[TensorType], id: NodeId) -> Result<&[Expr], OpError> {
    types
        .get(id.index())
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| OpError::Invalid(format!("operand #{} is not defined", id.index())))
}

/// The shape of `op`'s result.
pub(crate) fn infer_op(
    op: &Op,
    types: &[TensorType],
    env: &mut ShapeEnv,
    scope: &SymbolScope,
) -> Result<Vec<Expr>, OpError> {
    match op {
        Op::Binary { a, b, .. } => broadcast_operands(env, types, &[a, b]),
        Op::Where { cond, a, b } => broadcast_operands(env, types, &[cond, a, b]),
        Op::MatMul { a, b } => {
            super::linalg::matmul_shape(env, input_shape(types, *a)?, input_shape(types, *b)?)
        }
        Op::Unary { x, .. } | Op::Cast { x, .. } | Op::Softmax { x, .. } | Op::CumSum { x, .. } => {
            Ok(input_shape(types, *x)?.to_vec())
        }
        Op::Reduce {
            op,
            x,
            dims,
            keepdim,
        } => {
            let shape = input_shape(types, *x)?;
            let reduced = normalize_dims(dims, shape.len())?;
            if matches!(op, ReduceOp::Amax | ReduceOp::Amin) {
                require_nonempty_reduction(env, *op, shape, &reduced, dims.is_empty())?;
            }
            Ok(shape
                .iter()
                .enumerate()
                .filter_map(|(i, d)| match (reduced.contains(&i), keepdim) {
                    (false, _) => Some(d.clone()),
                    (true, true) => Some(Expr::int(1)),
                    (true, false) => None,
                })
                .collect())
        }
        Op::MaxPool2d { x, params }
        | Op::AvgPool2d { x, params }
        | Op::MaxPool2dIndices { x, params } => pool::pool2d(env, input_shape(types, *x)?, params),
        Op::AdaptiveAvgPool2d { x, output_size } => {
            pool::adaptive_pool2d(env, input_shape(types, *x)?, *output_size, true)
        }
        Op::AdaptiveMaxPool2d { x, output_size } => {
            pool::adaptive_pool2d(env, input_shape(types, *x)?, *output_size, false)
        }
        Op::Conv { x, w, params } => conv::conv(
            env,
            input_shape(types, *x)?,
            input_shape(types, *w)?,
            params,
        ),
        Op::ConvTranspose2d { x, w, params } => conv::conv_transpose(
            env,
            input_shape(types, *x)?,
            input_shape(types, *w)?,
            params,
        ),
        Op::Reshape { x, shape } => reshape(env, scope, input_shape(types, *x)?, shape),
        Op::Expand { x, shape } => expand(env, scope, input_shape(types, *x)?, shape),
        Op::Permute { x, dims } => {
            let shape = input_shape(types, *x)?;
            dims.iter()
                .map(|&d| Ok(shape[normalize_dim(d, shape.len())?].clone()))
                .collect()
        }
        Op::Transpose { x, dim0, dim1 } => {
            let mut shape = input_shape(types, *x)?.to_vec();
            if !shape.is_empty() {
                let (i, j) = (
                    normalize_dim(*dim0, shape.len())?,
                    normalize_dim(*dim1, shape.len())?,
                );
                shape.swap(i, j);
            }
            Ok(shape)
        }
        Op::Unsqueeze { x, dim } => {
            let mut shape = input_shape(types, *x)?.to_vec();
            let at = normalize_dim(*dim, shape.len() + 1)?;
            shape.insert(at, Expr::int(1));
            Ok(shape)
        }
        Op::Flatten {
            x,
            start_dim,
            end_dim,
        } => flatten::flatten_shape(input_shape(types, *x)?, *start_dim, *end_dim),
        Op::Unflatten { x, dim, sizes } => {
            flatten::unflatten_shape(env, scope, input_shape(types, *x)?, *dim, sizes)
        }
        Op::ArgMax { x, dim, keepdim } | Op::ArgMin { x, dim, keepdim } => {
            super::index::arg_shape(env, op.name(), input_shape(types, *x)?, *dim, *keepdim)
        }
        Op::Squeeze { x, dims } => {
            let shape = input_shape(types, *x)?;
            if let Some(ds) = dims {
                normalize_dims(ds, shape.len())?;
            }
            let removed = squeezed_dims(env, shape, dims.as_deref())?;
            Ok(shape
                .iter()
                .zip(&removed)
                .filter(|(_, r)| !**r)
                .map(|(d, _)| d.clone())
                .collect())
        }
        Op::Cat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::Pad { .. }
        | Op::Repeat { .. } => {
            let inputs = op.inputs();
            let shapes = inputs
                .iter()
                .map(|&i| input_shape(types, i))
                .collect::<Result<Vec<_>, _>>()?;
            super::movement::infer(op, &shapes, env)
        }
        Op::SumTo { .. }
        | Op::ExpandAs { .. }
        | Op::ReshapeAs { .. }
        | Op::SliceScatter { .. }
        | Op::CatPart { .. } => super::grad::infer(op, types, env),
        Op::ConvBackwardInput { .. } | Op::ConvBackwardWeight { .. } => {
            super::conv_grad::infer(op, types, env)
        }
        Op::MaxPool2dBackward { .. }
        | Op::AvgPool2dBackward { .. }
        | Op::AdaptiveAvgPool2dBackward { .. }
        | Op::AdaptiveMaxPool2dBackward { .. } => super::pool_grad::infer(op, types, env),
        Op::IndexSelect { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::IndexAdd { .. }
        | Op::Embedding { .. } => super::index::gather_shape(op, types, env),
    }
}

/// Which dims of `shape` `squeeze(x, dims)` removes (`None`: every dim of size 1; dims already
/// validated). A dim is removed when the env knows it is 1 (a literal, or a derived size
/// decided by a guard); a symbol's range is >= 2 (0 and 1 are specialised), so it stays.
/// Shared with lowering, which must index the input exactly as inference shaped the output.
pub fn squeezed_dims(
    env: &mut ShapeEnv,
    shape: &[Expr],
    dims: Option<&[i64]>,
) -> Result<Vec<bool>, ShapeError> {
    let mut removed = vec![false; shape.len()];
    if shape.is_empty() {
        return Ok(removed);
    }
    let wanted: Vec<usize> = match dims {
        None => (0..shape.len()).collect(),
        Some(ds) => ds
            .iter()
            .filter_map(|&d| normalize_dim(d, shape.len()).ok())
            .collect(),
    };
    for j in wanted {
        removed[j] = known_one(env, &shape[j])?;
    }
    Ok(removed)
}
