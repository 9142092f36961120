//! A compiled training step: matches the step graph on the interpreter, swaps its buffers,
//! and a second trainer on the same cache hits.
use kiln::{CacheSetting, CompileOptions, Compiler, Optimizer, Outcome, Tensor, TrainSpec};

const MLP: &str = "graph mlp\ninput x: f32[N, 2]\ninput t: f32[N, 1]\n\
                   param w1: f32[8, 2]\nparam b1: f32[8]\nparam w2: f32[1, 8]\n\
                   h = linear(x, w1, b1)\na = tanh(h)\no = linear(a, w2)\n\
                   d = sub(o, t)\nsq = mul(d, d)\nl = mean(sq)\noutput l\n";

fn weights() -> Vec<(&'static str, Tensor)> {
    let w1: Vec<f32> = (0..16)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0)
        .collect();
    let b1: Vec<f32> = (0..8).map(|i| (i as f32 - 4.0) / 20.0).collect();
    let w2: Vec<f32> = (0..8).map(|i| ((i * 3 % 5) as f32 - 2.0) / 5.0).collect();
    vec![
        ("w1", Tensor::from_f32(&[8, 2], &w1)),
        ("b1", Tensor::from_f32(&[8], &b1)),
        ("w2", Tensor::from_f32(&[1, 8], &w2)),
    ]
}

fn batch(n: usize) -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..2 * n)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let t: Vec<f32> = (0..n).map(|i| x[2 * i] * x[2 * i + 1]).collect();
    (Tensor::from_f32(&[n, 2], &x), Tensor::from_f32(&[n, 1], &t))
}

fn spec(optimizer: Optimizer) -> TrainSpec {
    TrainSpec {
        loss: "l".into(),
        params: vec!["w1".into(), "b1".into(), "w2".into()],
        optimizer,
    }
}

const SGD: Optimizer = Optimizer::Sgd {
    lr: 0.1,
    momentum: 0.9,
    weight_decay: 0.0,
};

#[test]
fn steps_match_the_interpreter_and_the_loss_falls() {
    let graph = kiln::parse(MLP).unwrap();
    let compiler = Compiler::new(CompileOptions {
        cache: CacheSetting::Disabled,
        ..CompileOptions::default()
    });
    let mut trainer = compiler.trainer(&graph, &spec(SGD), weights()).unwrap();
    let step_graph = kiln::train_step(&graph, &spec(SGD)).unwrap();
    let (x, t) = batch(16);
    // Replay the same steps on the interpreter, feeding the outputs back.
    let mut held: Vec<Tensor> = weights().into_iter().map(|(_, w)| w).collect();
    // The momentum buffers, zero at the start.
    for shape in [vec![8, 2], vec![8], vec![1, 8]] {
        held.push(Tensor::zeros(kiln::DType::F32, &shape));
    }
    let mut losses = Vec::new();
    for _ in 0..20 {
        let loss = trainer.step(&[&x, &t]).unwrap();
        let mut inputs = vec![x.clone(), t.clone()];
        inputs.extend(held.iter().cloned());
        let out = kiln_ir::interpret(&step_graph, &inputs).unwrap();
        let want = out[0].to_f64()[0];
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs().max(1e-3),
            "{loss} vs {want}"
        );
        held = out[1..].to_vec();
        losses.push(loss);
    }
    for (i, name) in ["w1", "b1", "w2"].iter().enumerate() {
        let got = trainer.param(name).unwrap().to_f64();
        for (a, b) in got.iter().zip(held[i].to_f64()) {
            assert!((a - b).abs() <= 1e-4, "{name}: {a} vs {b}");
        }
    }
    assert!(losses[19] < losses[0] * 0.8, "the loss falls: {losses:?}");
    // A batch of another size uses the same compiled step (N is symbolic).
    let (x8, t8) = batch(8);
    trainer.step(&[&x8, &t8]).unwrap();
}

#[test]
fn a_restarted_trainer_hits_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let graph = kiln::parse(MLP).unwrap();
    let (x, t) = batch(4);
    let opts = || CompileOptions {
        cache: CacheSetting::Dir(dir.path().to_path_buf()),
        ..CompileOptions::default()
    };
    let adam = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut first = Compiler::new(opts())
        .trainer(&graph, &spec(adam), weights())
        .unwrap();
    first.step(&[&x, &t]).unwrap();
    assert_eq!(first.last_report().unwrap().outcome, Outcome::Miss);
    let mut second = Compiler::new(opts())
        .trainer(&graph, &spec(adam), weights())
        .unwrap();
    let a = second.step(&[&x, &t]).unwrap();
    assert_eq!(second.last_report().unwrap().outcome, Outcome::Hit);
    let b = first.step(&[&x, &t]).unwrap();
    assert!(a > b, "the first trainer is one step further: {a} vs {b}");
}

#[test]
fn missing_and_unknown_parameters_are_typed_errors() {
    let graph = kiln::parse(MLP).unwrap();
    let compiler = Compiler::new(CompileOptions::default());
    let mut w = weights();
    w.pop();
    let err = compiler
        .trainer(&graph, &spec(SGD), w)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`w2`"), "{err}");
    let mut w = weights();
    w.push(("w9", Tensor::from_f32(&[1], &[0.0])));
    let err = compiler
        .trainer(&graph, &spec(SGD), w)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`w9`"), "{err}");
}

const CNN: &str = "graph cnn\ninput x: f32[N, 3, 8, 8]\ninput t: f32[N, 4]\n\
                   param cw: f32[6, 3, 3, 3]\nparam cb: f32[6]\nparam g: f32[6]\nparam b: f32[6]\n\
                   param fw: f32[4, 96]\nparam fb: f32[4]\n\
                   c = conv2d(x, cw, cb, padding=1)\n\
                   n, m, v = batch_norm(c, None, None, g, b, training=true)\n\
                   r = relu(n)\np = max_pool2d(r, 2)\nf = flatten(p, start_dim=1)\n\
                   o = linear(f, fw, fb)\nls = log_softmax(o, dim=1)\nprod = mul(ls, t)\n\
                   s = sum(prod)\nl = mul(s, -0.25)\noutput l\n";

#[test]
fn a_cnn_step_matches_the_interpreter() {
    let graph = kiln::parse(CNN).unwrap();
    let param = |shape: &[usize], k: usize| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| (((i * k) % 19) as f32 - 9.0) / 30.0)
            .collect();
        Tensor::from_f32(shape, &v)
    };
    let params = vec![
        ("cw", param(&[6, 3, 3, 3], 7)),
        ("cb", param(&[6], 3)),
        ("g", Tensor::from_f32(&[6], &[1.0; 6])),
        ("b", Tensor::from_f32(&[6], &[0.0; 6])),
        ("fw", param(&[4, 96], 5)),
        ("fb", param(&[4], 2)),
    ];
    let spec = TrainSpec {
        loss: "l".into(),
        params: params.iter().map(|(n, _)| n.to_string()).collect(),
        optimizer: SGD,
    };
    let compiler = Compiler::new(CompileOptions {
        cache: CacheSetting::Disabled,
        ..CompileOptions::default()
    });
    let mut trainer = compiler.trainer(&graph, &spec, params.clone()).unwrap();
    let x = param(&[4, 3, 8, 8], 11);
    let mut onehot = vec![0.0f32; 16];
    for i in 0..4 {
        onehot[i * 4 + i % 4] = 1.0;
    }
    let t = Tensor::from_f32(&[4, 4], &onehot);
    let step_graph = kiln::train_step(&graph, &spec).unwrap();
    let mut held: Vec<Tensor> = params.iter().map(|(_, w)| w.clone()).collect();
    for (_, w) in &params {
        held.push(Tensor::zeros(kiln::DType::F32, &w.shape));
    }
    for _ in 0..3 {
        let loss = trainer.step(&[&x, &t]).unwrap();
        let mut inputs = vec![x.clone(), t.clone()];
        inputs.extend(held.iter().cloned());
        let out = kiln_ir::interpret(&step_graph, &inputs).unwrap();
        let want = out[0].to_f64()[0];
        assert!(
            (loss - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{loss} vs {want}"
        );
        held = out[1..].to_vec();
    }
    for (i, (name, _)) in params.iter().enumerate() {
        let got = trainer.param(name).unwrap().to_f64();
        for (a, b) in got.iter().zip(held[i].to_f64()) {
            assert!((a - b).abs() <= 1e-3, "{name}: {a} vs {b}");
        }
    }
}
