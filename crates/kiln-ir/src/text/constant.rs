//! `c = tensor([[1.0, 2.0], [3.0, 4.0]], dtype=f32)`: constants from nested list literals.
//!
//! An optional `shape=[...]` reshapes the data (C order); the printer needs it for empty
//! tensors such as shape `[0, 3]`, which nested lists cannot spell.
use super::args::{Arg, ArgKind};
use super::bind::{Bound, Signature};
use super::lexer::parse_error;
use crate::dtype::DType;
use crate::error::IrError;
use crate::tensor::Tensor;

pub(crate) const TENSOR_SIGNATURE: Signature = Signature {
    params: &["data", "dtype", "shape"],
    required: 1,
};

/// Builds the constant: nested lists give the shape, a bare number a 0-d tensor.
pub(crate) fn build_constant(b: &Bound) -> Result<Tensor, IrError> {
    let data = b.raw("data")?;
    let dtype = b.dtype_or("dtype", DType::F32)?;
    let nested_shape = shape_of(data);
    let mut values = Vec::new();
    collect(b, data, &nested_shape, &mut values)?;
    let shape = match b.opt_int_list("shape")? {
        None => nested_shape,
        Some(dims) => {
            let shape: Option<Vec<usize>> = dims.iter().map(|&d| usize::try_from(d).ok()).collect();
            let numel = shape
                .as_ref()
                .and_then(|s| s.iter().try_fold(1usize, |n, &d| n.checked_mul(d)));
            match (shape, numel) {
                (Some(shape), Some(n)) if n == values.len() => shape,
                _ => {
                    let msg = format!(
                        "must be non-negative sizes whose product is the number of data values ({})",
                        values.len()
                    );
                    return Err(b.invalid("shape", &msg));
                }
            }
        }
    };
    Ok(Tensor::from_f64(dtype, &shape, &values))
}

/// The shape the first element of each nesting level implies; [`collect`] checks the rest.
fn shape_of(data: &Arg) -> Vec<usize> {
    let mut shape = Vec::new();
    let mut level = data;
    while let ArgKind::List(items) = &level.kind {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    shape
}

/// Appends the leaves of `data` in C order, checking that it has exactly `shape`.
fn collect(b: &Bound, data: &Arg, shape: &[usize], out: &mut Vec<f64>) -> Result<(), IrError> {
    let node = b.site.node;
    let bad = |msg: String| {
        parse_error(
            data.line,
            data.col,
            format!("node '{node}' (tensor): {msg}"),
        )
    };
    match (&data.kind, shape.split_first()) {
        (ArgKind::List(items), Some((&len, rest))) => {
            if items.len() != len {
                return Err(bad(format!(
                    "the data is not rectangular: expected a list of {len} entries, found {}",
                    items.len()
                )));
            }
            items
                .iter()
                .try_for_each(|item| collect(b, item, rest, out))
        }
        (ArgKind::List(_), None) => Err(bad(
            "the data is not rectangular: expected a number, found a list".to_string(),
        )),
        (_, Some((&len, _))) => Err(bad(format!(
            "the data is not rectangular: expected a list of {len} entries, found {data}"
        ))),
        (ArgKind::Int(v), None) => {
            out.push(*v as f64);
            Ok(())
        }
        (ArgKind::Float(v), None) => {
            out.push(*v);
            Ok(())
        }
        (ArgKind::Name(n), None) if n == "true" || n == "false" => {
            out.push(if n == "true" { 1.0 } else { 0.0 });
            Ok(())
        }
        (_, None) => Err(bad(format!(
            "tensor data must be numbers, true or false, found {data}"
        ))),
    }
}
