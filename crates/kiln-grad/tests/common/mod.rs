//! Finite-difference checking of gradients on the reference interpreter, in f64.
#![allow(dead_code)]
use kiln_grad::{GradSpec, grad};
use kiln_ir::{DType, Graph, Tensor, interpret, parse};

/// A deterministic pseudo-random generator (tests must not depend on a global seed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    /// A value in `±[0.2, 2.0)`: away from the kinks at 0 of relu, abs, ...
    pub fn away_from_zero(&mut self) -> f64 {
        let m = 0.2 + 1.8 * self.next_f64();
        if self.next_f64() < 0.5 { -m } else { m }
    }
    pub fn positive(&mut self) -> f64 {
        0.3 + 1.7 * self.next_f64()
    }
}

/// `count` f64 values from `f`.
pub fn values(count: usize, mut f: impl FnMut() -> f64) -> Vec<f64> {
    (0..count).map(|_| f()).collect()
}

pub fn tensor(shape: &[usize], data: &[f64]) -> Tensor {
    Tensor::from_f64(DType::F64, shape, data)
}

/// Random inputs for every input of `g` (its declared dims must be fixed, or given in
/// `shapes`), from `draw`.
pub fn random_inputs(shapes: &[Vec<usize>], draw: &mut impl FnMut() -> f64) -> Vec<Tensor> {
    shapes
        .iter()
        .map(|s| {
            let n = s.iter().product();
            tensor(s, &values(n, &mut *draw))
        })
        .collect()
}

fn sum_of_output(g: &Graph, output: usize, inputs: &[Tensor]) -> f64 {
    let outs = interpret(g, inputs).expect("the forward graph runs");
    outs[output].to_f64().iter().sum()
}

/// The gradients of `sum(output)` w.r.t. `wrt` from the joint graph, on the interpreter.
pub fn analytic(g: &Graph, output: &str, wrt: &[&str], inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let joint = grad(g, &GradSpec::sum_of(output, wrt)).expect("the gradient builds");
    let outs = interpret(&joint, inputs).expect("the joint graph runs");
    let n = outs.len();
    outs[n - wrt.len()..].iter().map(|t| t.to_f64()).collect()
}

/// Central differences of `sum(output)` w.r.t. every element of input `name`.
pub fn numeric(g: &Graph, output: &str, name: &str, inputs: &[Tensor], h: f64) -> Vec<f64> {
    let out_index = g
        .output_names()
        .iter()
        .position(|n| *n == output)
        .expect("the output exists");
    let at = g
        .inputs()
        .iter()
        .position(|d| d.name == name)
        .expect("the input exists");
    let base = inputs[at].to_f64();
    let shape = inputs[at].shape.clone();
    (0..base.len())
        .map(|i| {
            let probe = |delta: f64| {
                let mut data = base.clone();
                data[i] += delta;
                let mut xs = inputs.to_vec();
                xs[at] = tensor(&shape, &data);
                sum_of_output(g, out_index, &xs)
            };
            (probe(h) - probe(-h)) / (2.0 * h)
        })
        .collect()
}

/// Asserts that the joint graph's gradients of `sum(output)` match central differences.
pub fn check(text: &str, output: &str, wrt: &[&str], inputs: &[Tensor]) {
    let g = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let got = analytic(&g, output, wrt, inputs);
    for (name, got) in wrt.iter().zip(&got) {
        let want = numeric(&g, output, name, inputs, 1e-6);
        assert_eq!(got.len(), want.len(), "grad_{name} has the input's size");
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let tol = 1e-6 + 1e-5 * b.abs().max(a.abs());
            assert!(
                (a - b).abs() <= tol,
                "grad_{name}[{i}]: autodiff {a}, finite differences {b}\n{text}"
            );
        }
    }
}

/// `check` with random inputs of the given shapes drawn by `draw`.
pub fn check_random(
    text: &str,
    output: &str,
    wrt: &[&str],
    shapes: &[Vec<usize>],
    draw: &mut impl FnMut() -> f64,
) {
    let inputs = random_inputs(shapes, draw);
    check(text, output, wrt, &inputs);
}
