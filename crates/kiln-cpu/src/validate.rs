//! Checks of the caller's tensors against the program, before any kernel runs: the kernels
//! index buffers with sizes derived from these checks, so they are what keeps them in bounds.
use kiln_ir::Tensor;
use kiln_sched::{Program, TensorSpec};
use kiln_shape::{BindError, Bindings, Expr, bind_shapes};

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
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_header("input", spec, t)?;
    }
    let specs: Vec<(&str, &[Expr])> = program
        .inputs
        .iter()
        .map(|s| (s.name.as_str(), s.shape.as_slice()))
        .collect();
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
    let bindings = bind_shapes(&specs, &shapes).map_err(|e| bind_error(program, e))?;
    for (spec, t) in program.inputs.iter().zip(inputs) {
        check_bytes("input", spec, t)?;
    }
    for sym in &program.symbols {
        if bindings.get(sym).is_none() {
            return Err(RunError::UnboundSymbol(sym.clone()));
        }
    }
    Ok(bindings)
}

/// The shared binding's error in this backend's terms.
fn bind_error(program: &Program, e: BindError) -> RunError {
    let dim_error = |input: String, dim: usize, expected: String, found: i64| RunError::Dim {
        role: "input",
        name: input,
        dim,
        expected,
        found: usize::try_from(found).unwrap_or(usize::MAX),
    };
    match e {
        BindError::InputCount { expected, found } => RunError::InputCount { expected, found },
        BindError::Rank {
            input,
            expected,
            found,
        } => RunError::Rank {
            role: "input",
            name: input,
            expected,
            found,
        },
        BindError::FixedDim {
            input,
            dim,
            expected,
            found,
        } => dim_error(input, dim, expected.to_string(), found),
        BindError::ExprDim {
            input,
            dim,
            expected,
            found,
        } => dim_error(input, dim, expected, found),
        BindError::BadSize { input, dim, found } => {
            let expected = program
                .inputs
                .iter()
                .find(|s| s.name == input)
                .and_then(|s| s.shape.get(dim))
                .map_or_else(|| "a size".to_string(), |e| e.to_string());
            dim_error(input, dim, expected, found)
        }
        BindError::Conflict {
            symbol,
            first_input,
            first_dim,
            first_value,
            second_input,
            second_dim,
            second_value,
        } => RunError::InconsistentSymbol {
            symbol,
            first_input,
            first_dim,
            first_value,
            second_input,
            second_dim,
            second_value,
        },
    }
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
