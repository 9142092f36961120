//! The forward/backward split computes what the joint graph computes, saves the expensive
//! values and recomputes the cheap ones.
mod common;
use common::*;
use kiln_grad::{GradSpec, grad, partition};
use kiln_ir::{Tensor, interpret, parse};

const MLP: &str = "graph mlp\ninput x: f64[N, 3]\nparam w1: f64[4, 3]\nparam b1: f64[4]\n\
                   param w2: f64[2, 4]\n\
                   h = linear(x, w1, b1)\na = tanh(h)\nr = relu(a)\no = linear(r, w2)\n\
                   s = softmax(o, dim=1)\nl = mean(s)\noutput l\n";

fn run_split(n: usize) {
    let g = parse(MLP).unwrap();
    let spec = GradSpec::sum_of("l", &["x", "w1", "b1", "w2"]);
    let p = partition(&g, &spec, &[vec![5, 3], vec![4, 3], vec![4], vec![2, 4]]).unwrap();
    // The matmuls and the softmax are saved; the elementwise values are recomputed.
    assert!(p.saved.iter().any(|s| s == "s"), "s saved: {:?}", p.saved);
    for name in ["a", "r"] {
        assert!(
            p.recomputed.iter().any(|s| s == name),
            "{name} recomputed: {:?}",
            p.recomputed
        );
        assert!(
            !p.saved.iter().any(|s| s == name),
            "{name} not saved: {:?}",
            p.saved
        );
    }
    let mut rng = Lcg(7);
    let inputs = random_inputs(&[vec![n, 3], vec![4, 3], vec![4], vec![2, 4]], &mut || {
        rng.away_from_zero()
    });
    let joint = grad(&g, &spec).unwrap();
    let want = interpret(&joint, &inputs).unwrap();
    let fwd = interpret(&p.forward, &inputs).unwrap();
    // The backward's inputs: the graph inputs it reads, by name, then the saved values.
    let by_name = |name: &str| -> Tensor {
        if let Some(i) = g.inputs().iter().position(|d| d.name == name) {
            return inputs[i].clone();
        }
        let k = p
            .forward
            .output_names()
            .iter()
            .position(|o| *o == name)
            .unwrap();
        fwd[k].clone()
    };
    let bwd_inputs: Vec<Tensor> = p
        .backward
        .inputs()
        .iter()
        .map(|d| by_name(&d.name))
        .collect();
    let got = interpret(&p.backward, &bwd_inputs).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got, want[1..].to_vec());
}

#[test]
fn split_graphs_compute_the_joint_gradients() {
    run_split(5);
    // The backward's saved inputs have symbolic dims: another batch size runs too.
    run_split(2);
}
