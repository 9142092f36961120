//! A compiled function with its parameters bound: the form a model is called in.
//!
//! Parameters (`param w: f32[64, 3, 3, 3]`, [`kiln_ir::Graph::add_param`]) are keyed by name,
//! dtype and shape, never by value, so two models that differ only in their weights share
//! one cache entry. [`CompiledFunction::bind`] checks every parameter once (present, dtype,
//! shape, byte length); a call then takes only the data inputs and checks only those, and the
//! parameters are lent to the launcher by reference, never copied per call.
use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_ir::input_error::{check_bytes, check_dtype, check_shape};
use kiln_ir::{InputError, Role, Tensor};

use crate::error::KilnError;
use crate::function::{Checked, CompiledFunction};
use crate::stats::CompileReport;

/// A [`CompiledFunction`] with its parameters bound. Cheap to [`rebind`](Model::rebind):
/// models made from one function share its in-memory specialisations.
pub struct Model {
    function: Arc<CompiledFunction>,
    /// One per graph input, in declaration order: the bound tensor of a parameter, `None`
    /// for a data input (its place in a call).
    params: Vec<Option<Tensor>>,
    data_count: usize,
}

impl CompiledFunction {
    /// Binds the graph's parameters by name (e.g. a `HashMap<String, Tensor>`, a `Vec` of
    /// pairs), checking each once: every parameter must be given, with its declared dtype
    /// and shape; a name that is not a parameter of the graph is an error. The tensors are
    /// moved into the model and lent to every call.
    ///
    /// ```no_run
    /// # use kiln::{CompileOptions, Compiler, Tensor};
    /// # fn main() -> Result<(), kiln::KilnError> {
    /// let g = kiln::parse("graph affine\ninput x: f32[N, 2]\nparam w: f32[2]\ny = mul(x, w)\noutput y")?;
    /// let f = Compiler::new(CompileOptions::default()).compile(&g)?;
    /// let model = f.bind([("w", Tensor::from_f32(&[2], &[0.5, 2.0]))])?; // checked once
    /// let y = model.run(&[&Tensor::from_f32(&[1, 2], &[1.0, 1.0])])?;    // data inputs only
    /// let tuned = model.rebind([("w", Tensor::from_f32(&[2], &[1.0, 1.0]))])?; // same code
    /// # let _ = (y, tuned);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind<K: Into<String>>(
        self,
        params: impl IntoIterator<Item = (K, Tensor)>,
    ) -> Result<Model, KilnError> {
        Model::new(Arc::new(self), params)
    }
}

impl Model {
    /// [`CompiledFunction::bind`] for a function shared with other owners (the Python
    /// binding keeps its functions in an `Arc`); models of one function share its
    /// specialisations.
    pub fn from_shared<K: Into<String>>(
        function: Arc<CompiledFunction>,
        params: impl IntoIterator<Item = (K, Tensor)>,
    ) -> Result<Model, KilnError> {
        Model::new(function, params)
    }

    fn new<K: Into<String>>(
        function: Arc<CompiledFunction>,
        params: impl IntoIterator<Item = (K, Tensor)>,
    ) -> Result<Model, KilnError> {
        let mut given: BTreeMap<String, Tensor> = BTreeMap::new();
        for (name, t) in params {
            let name = name.into();
            if given.contains_key(&name) {
                return Err(InputError::DuplicateParam { name }.into());
            }
            given.insert(name, t);
        }
        let decls = function.graph().inputs();
        if let Some(name) = given
            .keys()
            .find(|n| !decls.iter().any(|d| d.is_param() && &d.name == *n))
        {
            let known: Vec<String> = function
                .graph()
                .params()
                .map(|d| format!("`{}`", d.name))
                .collect();
            let known = match known.is_empty() {
                true => "none".to_string(),
                false => known.join(", "),
            };
            return Err(InputError::UnknownParam {
                name: name.clone(),
                known,
            }
            .into());
        }
        let mut bound = Vec::with_capacity(decls.len());
        for decl in decls {
            if !decl.is_param() {
                bound.push(None);
                continue;
            }
            let t = given
                .remove(&decl.name)
                .ok_or_else(|| InputError::MissingParam {
                    name: decl.name.clone(),
                })?;
            let shape = decl.fixed_shape().ok_or_else(|| InputError::Dim {
                role: Role::Param,
                name: decl.name.clone(),
                dim: 0,
                expected: "a fixed size".into(),
                found: 0,
            })?;
            check_dtype(Role::Param, &decl.name, decl.dtype, &t)?;
            check_shape(Role::Param, &decl.name, &shape, &t)?;
            check_bytes(Role::Param, &decl.name, &t)?;
            bound.push(Some(t));
        }
        let data_count = bound.iter().filter(|p| p.is_none()).count();
        Ok(Model {
            function,
            params: bound,
            data_count,
        })
    }

    /// Another model of the same function with other weights (a fine-tuned copy): checked as
    /// [`CompiledFunction::bind`] checks, sharing this one's compiled specialisations.
    pub fn rebind<K: Into<String>>(
        &self,
        params: impl IntoIterator<Item = (K, Tensor)>,
    ) -> Result<Model, KilnError> {
        Model::new(self.function.clone(), params)
    }

    /// Runs on the data inputs (the graph's `input`s in declaration order, parameters left
    /// out). Only they are checked.
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, KilnError> {
        let all = self.arguments(inputs)?;
        self.function.run_checked(&all, Checked::Params)
    }

    /// Like [`run`](Self::run), writing into caller-provided outputs (no allocation).
    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), KilnError> {
        let all = self.arguments(inputs)?;
        self.function
            .run_into_checked(&all, outputs, Checked::Params)
    }

    /// Compiles (or loads) the specialisation for data inputs of these shapes, without
    /// running it.
    pub fn prepare(&self, shapes: &[Vec<i64>]) -> Result<CompileReport, KilnError> {
        let mut data = shapes.iter();
        let all = self
            .params
            .iter()
            .map(|p| match p {
                Some(t) => Ok(t.shape.iter().map(|&d| d as i64).collect()),
                None => data.next().cloned().ok_or(self.count_error(shapes.len())),
            })
            .collect::<Result<Vec<Vec<i64>>, InputError>>()?;
        if data.next().is_some() {
            return Err(self.count_error(shapes.len()).into());
        }
        self.function.prepare(&all)
    }

    /// The bound value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        let decls = self.function.graph().inputs();
        decls
            .iter()
            .zip(&self.params)
            .find(|(d, _)| d.name == name)
            .and_then(|(_, p)| p.as_ref())
    }

    /// The compiled function (its graph, reports, `reset`).
    pub fn function(&self) -> &CompiledFunction {
        &self.function
    }

    fn count_error(&self, found: usize) -> InputError {
        InputError::Count {
            role: Role::Input,
            expected: self.data_count,
            found,
        }
    }

    /// Every graph input in declaration order: the caller's data inputs in their places,
    /// references to the bound parameters in theirs.
    fn arguments<'a>(&'a self, inputs: &[&'a Tensor]) -> Result<Vec<&'a Tensor>, KilnError> {
        if inputs.len() != self.data_count {
            return Err(self.count_error(inputs.len()).into());
        }
        let mut all = Vec::with_capacity(self.params.len());
        let mut data = inputs.iter();
        for p in &self.params {
            match p {
                Some(t) => all.push(t),
                // As many data places as data inputs: counted above.
                None => match data.next() {
                    Some(&t) => all.push(t),
                    None => return Err(self.count_error(inputs.len()).into()),
                },
            }
        }
        Ok(all)
    }
}
