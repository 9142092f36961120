//! Training-step graphs: the joint graph of a loss followed by an optimizer's update, so one
//! compiled program runs forward, backward and update, and the scheduler fuses across them.
//!
//! The step graph's inputs are the forward graph's, then one parameter per optimizer state
//! tensor (`momentum_<p>`; `exp_avg_<p>`, `exp_avg_sq_<p>`) and, for Adam, two 0-d data inputs
//! with the step's bias corrections. Its outputs are the loss, `new_<p>` for each trained
//! parameter, then the new state in the order of the state inputs. The update follows
//! PyTorch's `torch.optim.SGD` (dampening 0, no Nesterov) and `torch.optim.Adam`
//! (`amsgrad=False`) exactly, so a run can be compared with PyTorch's step for step.
use kiln_ir::{BinaryOp as B, DType, Graph, NodeId, Op, Operand, UnaryOp};

use crate::{GradError, GradSpec, Seed, grad, grad_name};

/// The update rule and its hyper-parameters (PyTorch's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
}

impl Optimizer {
    /// The names of the state tensors kept per parameter `p`.
    pub fn state_names(&self, p: &str) -> Vec<String> {
        match self {
            Optimizer::Sgd { momentum, .. } if *momentum == 0.0 => vec![],
            Optimizer::Sgd { .. } => vec![format!("momentum_{p}")],
            Optimizer::Adam { .. } => vec![format!("exp_avg_{p}"), format!("exp_avg_sq_{p}")],
        }
    }
}

/// Names of Adam's per-step data inputs: `1 - beta1^t` and `sqrt(1 - beta2^t)`.
pub const ADAM_BIAS1: &str = "adam_bias_correction1";
pub const ADAM_BIAS2_SQRT: &str = "adam_bias_correction2_sqrt";

/// What a training step trains.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    /// The output to minimise (its sum, when it is not 0-d).
    pub loss: String,
    /// The parameters to update, by name (each a `param` of the graph).
    pub params: Vec<String>,
    pub optimizer: Optimizer,
}

/// The name of the step graph's output holding parameter `p` after the update.
pub fn updated_name(p: &str) -> String {
    format!("new_{p}")
}

/// Builds the training-step graph of `g` (see the module docs).
pub fn train_step(g: &Graph, spec: &TrainSpec) -> Result<Graph, GradError> {
    for p in &spec.params {
        let is_param = g.params().any(|d| &d.name == p);
        if !is_param {
            return Err(GradError::UnknownInput {
                name: p.clone(),
                graph: g.name.clone(),
            });
        }
    }
    for p in &spec.params {
        let mut names = vec![(updated_name(p), format!("the updated `{p}`"))];
        for state in spec.optimizer.state_names(p) {
            names.push((updated_name(&state), format!("the updated `{state}`")));
            names.push((state.clone(), format!("an optimizer state of `{p}`")));
        }
        if let Some((name, what)) = names.into_iter().find(|(n, _)| g.find(n).is_some()) {
            return Err(GradError::NameTaken {
                name,
                what,
                graph: g.name.clone(),
            });
        }
    }
    let wrt: Vec<&str> = spec.params.iter().map(String::as_str).collect();
    let joint = grad(
        g,
        &GradSpec {
            output: spec.loss.clone(),
            wrt: wrt.iter().map(|s| s.to_string()).collect(),
            seed: Seed::Sum,
        },
    )?;
    let mut b = StepBuilder { g: joint };
    let loss = b.find(&spec.loss)?;
    let mut new_params = Vec::new();
    let mut new_states = Vec::new();
    let dtype = spec
        .params
        .first()
        .map_or(DType::F32, |p| b.dtype_of_param(p));
    let bias = match spec.optimizer {
        Optimizer::Adam { .. } => Some(b.adam_inputs(dtype)?),
        Optimizer::Sgd { .. } => None,
    };
    for p in &spec.params {
        let (new_p, states) = b.update(p, &spec.optimizer, bias)?;
        new_params.push(new_p);
        new_states.extend(states);
    }
    let mut outputs = vec![loss];
    outputs.extend(new_params);
    outputs.extend(new_states);
    b.g.set_outputs(outputs)?;
    kiln_ir::validate(&b.g)?;
    Ok(b.g)
}

struct StepBuilder {
    g: Graph,
}

impl StepBuilder {
    fn find(&self, name: &str) -> Result<NodeId, GradError> {
        self.g.find(name).ok_or_else(|| GradError::UnknownOutput {
            name: name.to_string(),
            graph: self.g.name.clone(),
            outputs: self.g.output_names().join(", "),
        })
    }

    fn dtype_of_param(&self, p: &str) -> DType {
        self.g
            .params()
            .find(|d| d.name == p)
            .map_or(DType::F32, |d| d.dtype)
    }

    fn op(&mut self, base: &str, op: Op) -> Result<NodeId, GradError> {
        let name = self.g.fresh_name(base);
        Ok(self.g.add_op(&name, op)?)
    }

    fn bin(&mut self, base: &str, op: B, a: Operand, b: Operand) -> Result<NodeId, GradError> {
        self.op(base, Op::Binary { op, a, b })
    }

    fn adam_inputs(&mut self, dtype: DType) -> Result<(NodeId, NodeId), GradError> {
        let b1 = self.g.add_input(ADAM_BIAS1, dtype, vec![])?;
        let b2 = self.g.add_input(ADAM_BIAS2_SQRT, dtype, vec![])?;
        Ok((b1, b2))
    }

    /// The state parameter `name`, shaped and typed as parameter `p`.
    fn state(&mut self, name: &str, p: &str) -> Result<NodeId, GradError> {
        let decl = self
            .g
            .params()
            .find(|d| d.name == p)
            .cloned()
            .expect("checked to be a parameter");
        let shape = decl.fixed_shape().expect("parameters have fixed shapes");
        Ok(self.g.add_param(name, decl.dtype, &shape)?)
    }

    /// The updated parameter and state for `p`.
    fn update(
        &mut self,
        p: &str,
        opt: &Optimizer,
        bias: Option<(NodeId, NodeId)>,
    ) -> Result<(NodeId, Vec<NodeId>), GradError> {
        use Operand::{Scalar as S, Value as V};
        let w = self.find(p)?;
        let mut grad = self.find(&grad_name(p))?;
        let new = updated_name(p);
        match *opt {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                if weight_decay != 0.0 {
                    let decay = self.bin(&format!("{p}_decay"), B::Mul, V(w), S(weight_decay))?;
                    grad = self.bin(&format!("{p}_decayed"), B::Add, V(grad), V(decay))?;
                }
                let mut states = Vec::new();
                let direction = if momentum != 0.0 {
                    let buf = self.state(&format!("momentum_{p}"), p)?;
                    let kept = self.bin(&format!("{p}_kept"), B::Mul, V(buf), S(momentum))?;
                    let next = self.bin(&format!("new_momentum_{p}"), B::Add, V(kept), V(grad))?;
                    states.push(next);
                    next
                } else {
                    grad
                };
                let step = self.bin(&format!("{p}_step"), B::Mul, V(direction), S(lr))?;
                let updated = self.bin(&new, B::Sub, V(w), V(step))?;
                Ok((updated, states))
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let (bias1, bias2_sqrt) = bias.expect("Adam's inputs were added");
                if weight_decay != 0.0 {
                    let decay = self.bin(&format!("{p}_decay"), B::Mul, V(w), S(weight_decay))?;
                    grad = self.bin(&format!("{p}_decayed"), B::Add, V(grad), V(decay))?;
                }
                let m = self.state(&format!("exp_avg_{p}"), p)?;
                let v = self.state(&format!("exp_avg_sq_{p}"), p)?;
                // m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g^2
                let m_kept = self.bin(&format!("{p}_m_kept"), B::Mul, V(m), S(beta1))?;
                let g_part = self.bin(&format!("{p}_m_grad"), B::Mul, V(grad), S(1.0 - beta1))?;
                let m_new = self.bin(&format!("new_exp_avg_{p}"), B::Add, V(m_kept), V(g_part))?;
                let v_kept = self.bin(&format!("{p}_v_kept"), B::Mul, V(v), S(beta2))?;
                let g2 = self.bin(&format!("{p}_grad_sq"), B::Mul, V(grad), V(grad))?;
                let g2_part = self.bin(&format!("{p}_v_grad"), B::Mul, V(g2), S(1.0 - beta2))?;
                let v_new = self.bin(
                    &format!("new_exp_avg_sq_{p}"),
                    B::Add,
                    V(v_kept),
                    V(g2_part),
                )?;
                // p -= lr / bias1 * m / (sqrt(v) / bias2_sqrt + eps)
                let root = self.op(
                    &format!("{p}_v_sqrt"),
                    Op::Unary {
                        op: UnaryOp::Sqrt,
                        x: v_new,
                    },
                )?;
                let scaled = self.bin(&format!("{p}_v_scaled"), B::Div, V(root), V(bias2_sqrt))?;
                let denom = self.bin(&format!("{p}_denom"), B::Add, V(scaled), S(eps))?;
                let ratio = self.bin(&format!("{p}_ratio"), B::Div, V(m_new), V(denom))?;
                let lr_t = self.bin(&format!("{p}_ratio_lr"), B::Mul, V(ratio), S(lr))?;
                let step = self.bin(&format!("{p}_step"), B::Div, V(lr_t), V(bias1))?;
                let updated = self.bin(&new, B::Sub, V(w), V(step))?;
                Ok((updated, vec![m_new, v_new]))
            }
        }
    }
}
