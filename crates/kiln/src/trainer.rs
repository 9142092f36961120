//! A compiled training step with its parameters and optimizer state held in place.
//!
//! [`Compiler::trainer`] builds the step graph ([`kiln_grad::train_step`]: forward, backward
//! and update in one graph), compiles it through the cache like any graph, and binds the
//! initial parameters and zeroed optimizer state. [`Trainer::step`] runs one step: it reads
//! the current parameters and writes the updated ones into a second set of buffers, then
//! swaps the two, so after the first step a step allocates no tensors (the buffers
//! ping-pong). The step graph is an ordinary cache entry: a restarted job hits it.
use kiln_grad::{ADAM_BIAS1, ADAM_BIAS2_SQRT, Optimizer, TrainSpec, train_step};
use kiln_ir::input_error::{check_bytes, check_dtype, check_shape};
use kiln_ir::{DType, Graph, InputError, Role, Tensor};

use crate::compiler::Compiler;
use crate::error::KilnError;
use crate::function::CompiledFunction;
use crate::stats::CompileReport;

/// A training step compiled once, with parameters and optimizer state bound.
pub struct Trainer {
    function: CompiledFunction,
    spec: TrainSpec,
    /// One per input of the step graph, in declaration order: the held tensor of a parameter
    /// or state, `None` for a data input (or one of Adam's per-step scalars).
    held: Vec<Option<Tensor>>,
    /// For output `k + 1` (after the loss): the input it replaces.
    feeds: Vec<usize>,
    /// The previous step's outputs, reused as the next step's output buffers.
    outputs: Vec<Tensor>,
    adam: Option<AdamInputs>,
    steps: u64,
}

struct AdamInputs {
    beta1: f64,
    beta2: f64,
    dtype: DType,
    bias1: usize,
    bias2_sqrt: usize,
}

impl Compiler {
    /// A [`Trainer`] for `graph` minimising `spec.loss`, starting from `params` (every
    /// parameter of the graph, by name); optimizer state starts at zero, as `torch.optim`'s.
    pub fn trainer<K: Into<String>>(
        &self,
        graph: &Graph,
        spec: &TrainSpec,
        params: impl IntoIterator<Item = (K, Tensor)>,
    ) -> Result<Trainer, KilnError> {
        let step = train_step(graph, spec)?;
        let mut given: Vec<(String, Tensor)> =
            params.into_iter().map(|(k, t)| (k.into(), t)).collect();
        let mut held = Vec::with_capacity(step.inputs().len());
        for decl in step.inputs() {
            if !decl.is_param() {
                held.push(None);
                continue;
            }
            let tensor = match given.iter().position(|(n, _)| *n == decl.name) {
                Some(i) => given.swap_remove(i).1,
                None if graph.find(&decl.name).is_none() => {
                    // Optimizer state: zeros of the parameter's shape.
                    let shape = decl.fixed_shape().expect("state has a fixed shape");
                    Tensor::zeros(decl.dtype, &shape)
                }
                None => {
                    let name = decl.name.clone();
                    return Err(InputError::MissingParam { name }.into());
                }
            };
            let shape = decl.fixed_shape().expect("parameters have fixed shapes");
            check_dtype(Role::Param, &decl.name, decl.dtype, &tensor)?;
            check_shape(Role::Param, &decl.name, &shape, &tensor)?;
            check_bytes(Role::Param, &decl.name, &tensor)?;
            held.push(Some(tensor));
        }
        if let Some((name, _)) = given.first() {
            let known: Vec<String> = graph.params().map(|d| format!("`{}`", d.name)).collect();
            return Err(InputError::UnknownParam {
                name: name.clone(),
                known: known.join(", "),
            }
            .into());
        }
        let feeds = step.outputs()[1..]
            .iter()
            .map(|&o| {
                let name = step.node(o).name.as_str();
                let source = name.strip_prefix("new_").unwrap_or(name);
                step.inputs()
                    .iter()
                    .position(|d| d.name == source)
                    .expect("every update output names its input")
            })
            .collect();
        let adam = match spec.optimizer {
            Optimizer::Adam { beta1, beta2, .. } => {
                let index = |n: &str| step.inputs().iter().position(|d| d.name == n);
                let bias1 = index(ADAM_BIAS1).expect("Adam's step inputs");
                Some(AdamInputs {
                    beta1,
                    beta2,
                    dtype: step.inputs()[bias1].dtype,
                    bias1,
                    bias2_sqrt: index(ADAM_BIAS2_SQRT).expect("Adam's step inputs"),
                })
            }
            Optimizer::Sgd { .. } => None,
        };
        Ok(Trainer {
            function: self.compile(&step)?,
            spec: spec.clone(),
            held,
            feeds,
            outputs: Vec::new(),
            adam,
            steps: 0,
        })
    }
}

impl Trainer {
    /// One step on a batch: `data` are the graph's data inputs in declaration order. Returns
    /// the loss (the sum of the loss output's elements).
    pub fn step(&mut self, data: &[&Tensor]) -> Result<f64, KilnError> {
        self.steps += 1;
        let scalars = self.adam.as_ref().map(|a| {
            let t = self.steps as i32;
            (
                Tensor::from_f64(a.dtype, &[], &[1.0 - a.beta1.powi(t)]),
                Tensor::from_f64(a.dtype, &[], &[(1.0 - a.beta2.powi(t)).sqrt()]),
            )
        });
        let data_count =
            self.function.graph().data_inputs().count() - if self.adam.is_some() { 2 } else { 0 };
        let given = data.len();
        if given != data_count {
            return Err(InputError::Count {
                role: Role::Input,
                expected: data_count,
                found: given,
            }
            .into());
        }
        let mut data = data.iter();
        let mut inputs: Vec<&Tensor> = Vec::with_capacity(self.held.len());
        for (i, held) in self.held.iter().enumerate() {
            let t = match (held, &self.adam, &scalars) {
                (Some(t), _, _) => t,
                (None, Some(a), Some((b1, _))) if i == a.bias1 => b1,
                (None, Some(a), Some((_, b2))) if i == a.bias2_sqrt => b2,
                (None, _, _) => data.next().ok_or(InputError::Count {
                    role: Role::Input,
                    expected: data_count,
                    found: given,
                })?,
            };
            inputs.push(t);
        }
        if self.outputs.is_empty() {
            self.outputs = self.function.run(&inputs)?;
        } else if let Err(e) = self.function.run_into(&inputs, &mut self.outputs) {
            // A batch of another size changes the loss's shape: allocate for it once.
            match e {
                KilnError::Input(_) => self.outputs = self.function.run(&inputs)?,
                e => return Err(e),
            }
        }
        drop(inputs);
        for (k, &input) in self.feeds.iter().enumerate() {
            let held = self.held[input].as_mut().expect("a fed input is held");
            std::mem::swap(held, &mut self.outputs[k + 1]);
        }
        Ok(self.outputs[0].to_f64().iter().sum())
    }

    /// The current value of parameter (or optimizer state) `name`.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        let decls = self.function.graph().inputs();
        decls
            .iter()
            .position(|d| d.name == name)
            .and_then(|i| self.held[i].as_ref())
    }

    /// The compiled step (its graph is the step graph).
    pub fn function(&self) -> &CompiledFunction {
        &self.function
    }

    pub fn spec(&self) -> &TrainSpec {
        &self.spec
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The report of the step graph's last compile (miss, hit, guard pass).
    pub fn last_report(&self) -> Option<CompileReport> {
        self.function.last_report()
    }
}
