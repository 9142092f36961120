//! The graphs of a training job (joint, and the forward/backward split) are ordinary cache
//! entries: a second compiler on the same cache directory (a restarted process) hits them all,
//! with the same results, for another batch size too (one entry per graph).
use kiln::{CacheSetting, CompileOptions, Compiler, GradSpec, Outcome, Tensor};

const MLP: &str = "graph mlp\ninput x: f32[N, 3]\nparam w1: f32[4, 3]\nparam b1: f32[4]\n\
                   param w2: f32[2, 4]\n\
                   h = linear(x, w1, b1)\na = tanh(h)\nr = relu(a)\no = linear(r, w2)\n\
                   s = softmax(o, dim=1)\nl = mean(s)\noutput l\n";

fn inputs(n: usize) -> Vec<Tensor> {
    let f = |len: usize, k: usize| -> Vec<f32> {
        (0..len)
            .map(|i| (((i * k) % 13) as f32 - 6.0) / 7.0)
            .collect()
    };
    vec![
        Tensor::from_f32(&[n, 3], &f(3 * n, 5)),
        Tensor::from_f32(&[4, 3], &f(12, 7)),
        Tensor::from_f32(&[4], &f(4, 3)),
        Tensor::from_f32(&[2, 4], &f(8, 11)),
    ]
}

/// Runs forward, then backward on the forward's saved outputs; returns the gradients.
fn split_run(
    compiler: &Compiler,
    p: &kiln::Partition,
    xs: &[Tensor],
) -> (Vec<Tensor>, [Outcome; 2]) {
    let forward = compiler.compile(&p.forward).unwrap();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let fwd = forward.run(&refs).unwrap();
    let names = p.forward.output_names();
    let graph = kiln::parse(MLP).unwrap();
    let backward = compiler.compile(&p.backward).unwrap();
    let bwd_inputs: Vec<&Tensor> = p
        .backward
        .inputs()
        .iter()
        .map(
            |d| match graph.inputs().iter().position(|i| i.name == d.name) {
                Some(i) => &xs[i],
                None => &fwd[names.iter().position(|o| *o == d.name).unwrap()],
            },
        )
        .collect();
    let grads = backward.run(&bwd_inputs).unwrap();
    let outcomes = [
        forward.last_report().unwrap().outcome,
        backward.last_report().unwrap().outcome,
    ];
    (grads, outcomes)
}

#[test]
fn joint_forward_and_backward_entries_hit_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let graph = kiln::parse(MLP).unwrap();
    let spec = GradSpec::sum_of("l", &["x", "w1", "b1", "w2"]);
    let joint = kiln::grad(&graph, &spec).unwrap();
    let p = kiln::partition(
        &graph,
        &spec,
        &[vec![5, 3], vec![4, 3], vec![4], vec![2, 4]],
    )
    .unwrap();
    let compiler = || {
        Compiler::new(CompileOptions {
            cache: CacheSetting::Dir(dir.path().to_path_buf()),
            ..CompileOptions::default()
        })
    };
    let xs = inputs(5);
    let refs: Vec<&Tensor> = xs.iter().collect();
    let want = kiln_ir::interpret(&joint, &xs).unwrap();

    let first = compiler();
    let f = first.compile(&joint).unwrap();
    let got = f.run(&refs).unwrap();
    assert_eq!(f.last_report().unwrap().outcome, Outcome::Miss);
    let (split, outcomes) = split_run(&first, &p, &xs);
    assert_eq!(outcomes, [Outcome::Miss, Outcome::Miss]);

    let second = compiler();
    let g = second.compile(&joint).unwrap();
    let again = g.run(&refs).unwrap();
    assert_eq!(g.last_report().unwrap().outcome, Outcome::Hit);
    let (split_again, outcomes) = split_run(&second, &p, &xs);
    assert_eq!(outcomes, [Outcome::Hit, Outcome::Hit]);
    assert_eq!(got, again);
    assert_eq!(split, split_again);
    for (k, (a, b)) in got[1..].iter().zip(&want[1..]).enumerate() {
        for (u, w) in a.to_f64().iter().zip(b.to_f64()) {
            assert!((u - w).abs() <= 1e-5, "joint grad {k}: {u} vs {w}");
        }
    }
    for (k, (a, b)) in split.iter().zip(&want[1..]).enumerate() {
        for (u, w) in a.to_f64().iter().zip(b.to_f64()) {
            assert!((u - w).abs() <= 1e-5, "split grad {k}: {u} vs {w}");
        }
    }
    // Another batch size: the same entries serve it (a guard pass, not a new compile).
    let xs3 = inputs(3);
    let (_, outcomes) = split_run(&compiler(), &p, &xs3);
    assert_eq!(outcomes, [Outcome::Hit, Outcome::Hit]);
}
