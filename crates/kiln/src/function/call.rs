//! The hot path of a call: the one validation of the caller's tensors, the match of an
//! in-memory specialisation, and the launch with the symbols that match bound (the launcher
//! does not check the inputs again).
use std::sync::Arc;

use kiln_ir::input_error::{check_bytes, check_dtype};
use kiln_ir::{InputError, Role, Tensor};
use kiln_shape::{Bindings, Expr, bind_shapes};

use super::{Checked, CompiledFunction, Specialization, refusal};
use crate::error::KilnError;
use crate::stats::Outcome;

impl CompiledFunction {
    /// Runs the function, compiling (or loading) a specialisation first if no in-memory one
    /// covers these inputs. `inputs` are every graph input in declaration order, parameters
    /// included (see [`bind`](Self::bind) to pass them once instead). Inputs are checked
    /// (count, dtype, rank, sizes, byte lengths) once, before any kernel runs.
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        self.run_checked(inputs, Checked::Nothing)
    }

    /// Like [`run`](Self::run), writing into caller-provided outputs (no allocation).
    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        self.run_into_checked(inputs, outputs, Checked::Nothing)
    }

    pub(crate) fn run_checked(
        &self,
        inputs: &[&Tensor],
        checked: Checked,
    ) -> Result<Vec<Tensor>, KilnError> {
        let run = |spec: &Specialization, bindings: Option<Bindings>| match bindings {
            Some(b) => spec.exec.run_bound(inputs, &b),
            None => spec.exec.run(inputs),
        };
        let (spec, bindings) = self.specialization_for(inputs, checked)?;
        match run(&spec, bindings) {
            Err(e) if self.drop_refusing(&spec, inputs, &e) => {
                let (spec, bindings) = self.specialization_for(inputs, checked)?;
                run(&spec, bindings)
            }
            result => result,
        }
    }

    pub(crate) fn run_into_checked(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        checked: Checked,
    ) -> Result<(), KilnError> {
        let run = |spec: &Specialization, bindings: Option<Bindings>, out: &mut [Tensor]| {
            match bindings {
                Some(b) => spec.exec.run_into_bound(inputs, out, &b),
                None => spec.exec.run_into(inputs, out),
            }
        };
        let (spec, bindings) = self.specialization_for(inputs, checked)?;
        match run(&spec, bindings, outputs) {
            Err(e) if self.drop_refusing(&spec, inputs, &e) => {
                let (spec, bindings) = self.specialization_for(inputs, checked)?;
                run(&spec, bindings, outputs)
            }
            result => result,
        }
    }

    /// After `spec` failed to run: when it came from the cache and its program refuses these
    /// inputs (a damaged entry: guards that admit sizes its kernels cannot serve), discards the
    /// entry and forgets the specialisation, so that a retry compiles afresh. False when the
    /// failure is the caller's (e.g. `run_into` outputs of the wrong shape).
    fn drop_refusing(&self, spec: &Arc<Specialization>, inputs: &[&Tensor], e: &KilnError) -> bool {
        let Some(entry) = &spec.origin else {
            return false;
        };
        let shapes: Vec<Vec<i64>> = inputs
            .iter()
            .map(|t| t.shape.iter().map(|&d| d as i64).collect())
            .collect();
        let Some(reason) = refusal(&self.graph, &spec.exec, &spec.inputs, &shapes) else {
            return false;
        };
        if let Some(cache) = &self.compiler.cache {
            cache.discard(entry, &format!("{reason} (the call failed: {e})"));
        }
        self.state().specs.retain(|s| !Arc::ptr_eq(s, spec));
        true
    }

    /// The one validation of a call: count, then each tensor not checked before the call
    /// (dtype, byte length; rank and dims as its symbols are bound). Returns the
    /// specialisation serving the call and its program's symbol values, which the launcher
    /// takes instead of checking the inputs again.
    fn specialization_for(
        &self,
        inputs: &[&Tensor],
        checked: Checked,
    ) -> Result<(Arc<Specialization>, Option<Bindings>), KilnError> {
        let decls = self.graph.inputs();
        if inputs.len() != decls.len() {
            return Err(InputError::Count {
                role: Role::Input,
                expected: decls.len(),
                found: inputs.len(),
            }
            .into());
        }
        let idx = match checked {
            Checked::Nothing => &self.all_inputs,
            Checked::Params => &self.data_inputs,
        };
        for &i in idx {
            let role = if decls[i].is_param() {
                Role::Param
            } else {
                Role::Input
            };
            check_dtype(role, &decls[i].name, decls[i].dtype, inputs[i])?;
            check_bytes(role, &decls[i].name, inputs[i])?;
        }
        let shapes: Vec<&[usize]> = idx.iter().map(|&i| inputs[i].shape.as_slice()).collect();
        let declared: Vec<(&str, &[Expr])> = idx
            .iter()
            .map(|&i| (self.decls[i].0.as_str(), self.decl_exprs[i].as_slice()))
            .collect();
        // Every declared symbol's value (parameters have fixed dims, so the data inputs bind
        // them all): guards may name symbols a specialisation fixed to constants (`N == 4`).
        let values = bind_shapes(&declared, &shapes).map_err(InputError::from)?;
        let fit = |spec: &Specialization| {
            let specs: Vec<(&str, &[Expr])> = idx
                .iter()
                .map(|&i| (self.decls[i].0.as_str(), spec.inputs[i].as_slice()))
                .collect();
            bind_shapes(&specs, &shapes).ok()
        };
        {
            let st = self.state();
            for spec in &st.specs {
                if let Some(bindings) = fit(spec)
                    && spec.guards.eval(&values) == Ok(true)
                {
                    self.count(&Outcome::Memory);
                    return Ok((spec.clone(), Some(bindings)));
                }
            }
        }
        let all: Vec<Vec<i64>> = inputs
            .iter()
            .map(|t| t.shape.iter().map(|&d| d as i64).collect())
            .collect();
        let (spec, _) = self.specialize(&all)?;
        // A fresh specialisation was built for these shapes, so its symbols bind from them;
        // if they did not, the launcher's own check of every input runs instead.
        let bindings = fit(&spec);
        Ok((spec, bindings))
    }
}
