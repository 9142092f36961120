//! Checks of the caller's tensors against the program, before any kernel runs: the kernels
//! index buffers with sizes derived from these checks, so they are what keeps them in bounds.
use kiln_ir::input_error::{check_bytes, check_dtype};
use kiln_ir::{InputError, Role, Tensor};
use kiln_sched::{Program, TensorSpec};
use kiln_shape::{Bindings, Expr, bind_shapes};

use crate::error::RunError;

/// Evaluates a size expression under `b` (checked arithmetic).
pub(crate) fn eval(e: &Expr, b: &Bindings) -> Result<i64, RunError> {
    e.eval(b).map_err(|err| RunError::Size {
        expr: e.to_string(),
        msg: err.to_string(),
    })
}

fn check_header(role: Role, spec: &TensorSpec, t: &Tensor) -> Result<(), InputError> {
    check_dtype(role, &spec.name, spec.dtype, t)?;
    if t.shape.len() != spec.shape.len() {
        return Err(InputError::Rank {
            role,
            name: spec.name.clone(),
            expected: spec.shape.len(),
            found: t.shape.len(),
        });
    }
    Ok(())
}

/// Binds the program's symbols from the input shapes, checking every input's dtype, rank,
/// dims and byte length (the checks a caller of [`crate::CompiledProgram::run_bound`] did).
pub(crate) fn bind_inputs(program: &Program, inputs: &[&Tensor]) -> Result<Bindings, RunError> {
    if inputs.len() != program.inputs.len() {
        return Err(InputError::Count {
            role: Role::Input,
            expected: program.inputs.len(),
            found: inputs.len(),
        }
        .into());
    }
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_header(Role::Input, spec, t)?;
    }
    let specs: Vec<(&str, &[Expr])> = program
        .inputs
        .iter()
        .map(|s| (s.name.as_str(), s.shape.as_slice()))
        .collect();
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
    let bindings = bind_shapes(&specs, &shapes).map_err(InputError::from)?;
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_bytes(Role::Input, &spec.name, t)?;
    }
    for sym in &program.symbols {
        if bindings.get(sym).is_none() {
            return Err(RunError::UnboundSymbol(sym.clone()));
        }
    }
    Ok(bindings)
}

/// Checks a concrete shape against a spec's dims under `b`.
pub(crate) fn check_dims(
    role: Role,
    spec: &TensorSpec,
    shape: &[usize],
    b: &Bindings,
) -> Result<(), RunError> {
    for (dim, (e, &size)) in spec.shape.iter().zip(shape).enumerate() {
        if usize::try_from(eval(e, b)?).ok() != Some(size) {
            return Err(InputError::Dim {
                role,
                name: spec.name.clone(),
                dim,
                expected: e.to_string(),
                found: i64::try_from(size).unwrap_or(i64::MAX),
            }
            .into());
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
        return Err(InputError::Count {
            role: Role::Output,
            expected: program.outputs.len(),
            found: outputs.len(),
        }
        .into());
    }
    for ((spec, _), t) in program.outputs.iter().zip(outputs) {
        check_header(Role::Output, spec, t)?;
        check_dims(Role::Output, spec, &t.shape, b)?;
        check_bytes(Role::Output, &spec.name, t)?;
    }
    Ok(())
}
