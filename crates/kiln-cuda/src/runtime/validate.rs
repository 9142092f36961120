//! Checking a call's inputs against the program's input specs before anything is launched, and
//! binding the graph symbols from their shapes.
use kiln_ir::{DType, InputError, Role};
use kiln_sched::Program;
use kiln_shape::{Bindings, Expr, bind_shapes};

use crate::error::CudaError;

/// What validation needs to know of one input.
pub(crate) struct InputMeta<'a> {
    pub dtype: DType,
    pub shape: &'a [usize],
}

/// The symbol values of a validated call, in `Program::symbols` order, and all bindings.
pub(crate) struct Bound {
    pub bindings: Bindings,
    pub values: Vec<i64>,
}

/// Checks count, dtype, rank and every dim of `inputs`, binding the symbols through
/// [`kiln_shape::bind_shapes`] (the mechanism every backend and the driver share).
pub(crate) fn bind_inputs(p: &Program, inputs: &[InputMeta]) -> Result<Bound, CudaError> {
    if inputs.len() != p.inputs.len() {
        return Err(InputError::Count {
            role: Role::Input,
            expected: p.inputs.len(),
            found: inputs.len(),
        }
        .into());
    }
    for (spec, meta) in p.inputs.iter().zip(inputs) {
        if meta.dtype != spec.dtype {
            return Err(InputError::Dtype {
                role: Role::Input,
                name: spec.name.clone(),
                expected: spec.dtype,
                found: meta.dtype,
            }
            .into());
        }
    }
    let specs: Vec<(&str, &[Expr])> = p
        .inputs
        .iter()
        .map(|s| (s.name.as_str(), s.shape.as_slice()))
        .collect();
    let shapes: Vec<&[usize]> = inputs.iter().map(|m| m.shape).collect();
    let bindings = bind_shapes(&specs, &shapes).map_err(InputError::from)?;
    bound(p, bindings)
}

/// The program's symbol values from `bindings` (a symbol no input binds is an error).
pub(crate) fn bound(p: &Program, bindings: Bindings) -> Result<Bound, CudaError> {
    let values = p
        .symbols
        .iter()
        .map(|s| {
            bindings.get(s).ok_or_else(|| CudaError::Eval {
                what: format!("symbol `{s}`"),
                expr: s.clone(),
                reason: "no input dim binds it".to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Bound { bindings, values })
}

/// Evaluates a size expression under the call's bindings, as a non-negative count.
pub(crate) fn eval_count(e: &Expr, b: &Bindings, what: &str) -> Result<usize, CudaError> {
    let v = e.eval(b).map_err(|err| CudaError::Eval {
        what: what.to_string(),
        expr: e.to_string(),
        reason: err.to_string(),
    })?;
    usize::try_from(v).map_err(|_| CudaError::Eval {
        what: what.to_string(),
        expr: e.to_string(),
        reason: format!("it is negative ({v})"),
    })
}

/// `numel * dtype.size()`, checked.
pub(crate) fn byte_len(numel: usize, dtype: DType, what: &str) -> Result<usize, CudaError> {
    numel
        .checked_mul(dtype.size())
        .ok_or_else(|| CudaError::TooLarge {
            what: what.to_string(),
            value: i64::try_from(numel).unwrap_or(i64::MAX),
            limit: "its byte size overflows usize".to_string(),
        })
}

/// An input buffer holds at least the bytes the program declares for it (a program whose
/// buffer sizes disagree with its input specs, e.g. a damaged cache entry, is refused).
pub(crate) fn check_input_bytes(buf: usize, held: usize, needed: usize) -> Result<(), CudaError> {
    if held < needed {
        return Err(CudaError::Eval {
            what: format!("input buffer b{buf}"),
            expr: format!("{needed} bytes"),
            reason: format!("the input holds {held} bytes"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_sched::{SchedOptions, schedule};
    use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

    fn program() -> Program {
        let g = kiln_ir::parse(
            "graph v\ninput x: f32[N, 3]\ninput z: f32[N, 3]\ny = add(x, z)\noutput y\n",
        )
        .expect("parses");
        let decls = g.input_dims();
        let b = bind_symbols(&decls, &[vec![4, 3], vec![4, 3]]).expect("binds");
        let mut env = ShapeEnv::new();
        let inputs = specialize_inputs(&mut env, &decls, &b, &Policy::Dynamic).expect("ok");
        schedule(&g, &mut env, &inputs, &SchedOptions::default()).expect("schedules")
    }

    fn meta(dtype: DType, shape: &[usize]) -> InputMeta<'_> {
        InputMeta { dtype, shape }
    }

    #[test]
    fn binds_symbols_from_shapes() {
        let p = program();
        let bound = bind_inputs(&p, &[meta(DType::F32, &[7, 3]), meta(DType::F32, &[7, 3])])
            .expect("valid");
        assert_eq!(bound.values, vec![7]);
    }

    #[test]
    fn names_the_input_and_dim_that_is_wrong() {
        let p = program();
        let err = bind_inputs(&p, &[meta(DType::F32, &[7, 4]), meta(DType::F32, &[7, 3])]);
        assert!(matches!(
            err,
            Err(CudaError::Input(InputError::Dim { ref name, dim: 1, found: 4, .. })) if name == "x"
        ));
        let err = bind_inputs(&p, &[meta(DType::F32, &[7, 3]), meta(DType::F32, &[8, 3])]);
        assert!(matches!(
            err,
            Err(CudaError::Input(InputError::Conflict { ref symbol, first_value: 7, second_value: 8, .. })) if symbol == "N"
        ));
        let err = bind_inputs(&p, &[meta(DType::F16, &[7, 3]), meta(DType::F32, &[7, 3])]);
        assert!(matches!(
            err,
            Err(CudaError::Input(InputError::Dtype { .. }))
        ));
        let err = bind_inputs(&p, &[meta(DType::F32, &[7, 3])]);
        assert!(matches!(
            err,
            Err(CudaError::Input(InputError::Count {
                expected: 2,
                found: 1,
                ..
            }))
        ));
    }
}
