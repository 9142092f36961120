//! Checks of the caller's tensors against the program, before any kernel runs: the kernels
//! index buffers with sizes derived from these checks, so they are what keeps them in bounds.
use std::collections::BTreeMap;

use kiln_ir::Tensor;
use kiln_sched::{Program, TensorSpec};
use kiln_shape::{Bindings, Expr};

use crate::error::RunError;

/// Evaluates a size expression under `b` (checked arithmetic).
pub(crate) fn eval(e: &Expr, b: &Bindings) -> Result<i64, RunError> {
    e.eval(b).map_err(|err| RunError::Size {
        expr: e.to_string(),
        msg: err.to_string(),
    })
}

fn check_bytes(role: &'static str, spec: &TensorSpec, t: &Tensor) -> Result<(), RunError> {
    let bytes = t
        .shape
        .iter()
        .try_fold(t.dtype.size(), |acc, &d| acc.checked_mul(d));
    if bytes != Some(t.data.len()) {
        return Err(RunError::ByteLength {
            role,
            name: spec.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            expected: bytes.map_or("more than usize::MAX".to_string(), |b| b.to_string()),
            found: t.data.len(),
        });
    }
    Ok(())
}

fn check_header(role: &'static str, spec: &TensorSpec, t: &Tensor) -> Result<(), RunError> {
    if t.dtype != spec.dtype {
        return Err(RunError::Dtype {
            role,
            name: spec.name.clone(),
            expected: spec.dtype,
            found: t.dtype,
        });
    }
    if t.shape.len() != spec.shape.len() {
        return Err(RunError::Rank {
            role,
            name: spec.name.clone(),
            expected: spec.shape.len(),
            found: t.shape.len(),
        });
    }
    Ok(())
}

/// Binds the program's symbols from the input shapes, checking every input's dtype, rank,
/// dims and byte length.
pub(crate) fn bind_inputs(program: &Program, inputs: &[&Tensor]) -> Result<Bindings, RunError> {
    if inputs.len() != program.inputs.len() {
        return Err(RunError::InputCount {
            expected: program.inputs.len(),
            found: inputs.len(),
        });
    }
    let mut bindings = Bindings::new();
    let mut first_seen: BTreeMap<String, (String, usize, i64)> = BTreeMap::new();
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_header("input", spec, t)?;
        for (dim, (e, &size)) in spec.shape.iter().zip(&t.shape).enumerate() {
            let value = i64::try_from(size).map_err(|_| RunError::Dim {
                role: "input",
                name: spec.name.clone(),
                dim,
                expected: e.to_string(),
                found: size,
            })?;
            if let Some(sym) = e.as_sym() {
                match first_seen.get(sym) {
                    Some((input, d, v)) if *v != value => {
                        return Err(RunError::InconsistentSymbol {
                            symbol: sym.to_string(),
                            first_input: input.clone(),
                            first_dim: *d,
                            first_value: *v,
                            second_input: spec.name.clone(),
                            second_dim: dim,
                            second_value: value,
                        });
                    }
                    Some(_) => {}
                    None => {
                        bindings.insert(sym, value);
                        first_seen.insert(sym.to_string(), (spec.name.clone(), dim, value));
                    }
                }
            }
        }
        check_bytes("input", spec, t)?;
    }
    for sym in &program.symbols {
        if bindings.get(sym).is_none() {
            return Err(RunError::UnboundSymbol(sym.clone()));
        }
    }
    // Constant and composite dims, now that every symbol has a value.
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_dims("input", spec, &t.shape, &bindings)?;
    }
    Ok(bindings)
}

/// Checks a concrete shape against a spec's dims under `b`.
pub(crate) fn check_dims(
    role: &'static str,
    spec: &TensorSpec,
    shape: &[usize],
    b: &Bindings,
) -> Result<(), RunError> {
    for (dim, (e, &size)) in spec.shape.iter().zip(shape).enumerate() {
        if usize::try_from(eval(e, b)?).ok() != Some(size) {
            return Err(RunError::Dim {
                role,
                name: spec.name.clone(),
                dim,
                expected: e.to_string(),
                found: size,
            });
        }
    }
    Ok(())
}

/// The concrete shape of `spec` under `b`.
pub(crate) fn shape_of(spec: &TensorSpec, b: &Bindings) -> Result<Vec<usize>, RunError> {
    spec.shape
        .iter()
        .map(|e| {
            let v = eval(e, b)?;
            usize::try_from(v).map_err(|_| RunError::Size {
                expr: e.to_string(),
                msg: format!("evaluates to {v}, not a size"),
            })
        })
        .collect()
}

/// Checks the caller's output tensors (for `run_into`).
pub(crate) fn check_outputs(
    program: &Program,
    outputs: &[kiln_ir::Tensor],
    b: &Bindings,
) -> Result<(), RunError> {
    if outputs.len() != program.outputs.len() {
        return Err(RunError::OutputCount {
            expected: program.outputs.len(),
            found: outputs.len(),
        });
    }
    for ((spec, _), t) in program.outputs.iter().zip(outputs) {
        check_header("output", spec, t)?;
        check_dims("output", spec, &t.shape, b)?;
        check_bytes("output", spec, t)?;
    }
    Ok(())
}
