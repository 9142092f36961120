//! Training-step graphs follow torch.optim's update rules (checked by hand on the interpreter).
mod common;
use common::tensor;
use kiln_grad::{Optimizer, TrainSpec, train_step};
use kiln_ir::{interpret, parse};

const MODEL: &str = "graph g\ninput x: f64[2, 2]\nparam w: f64[2]\n\
                     y = mul(x, w)\nl = sum(y)\noutput l\n";

#[test]
fn sgd_with_momentum_and_weight_decay() {
    let g = parse(MODEL).unwrap();
    let spec = TrainSpec {
        loss: "l".into(),
        params: vec!["w".into()],
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
        },
    };
    let step = train_step(&g, &spec).unwrap();
    assert_eq!(step.output_names(), ["l", "new_w", "new_momentum_w"]);
    let x = tensor(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let w = tensor(&[2], &[0.5, -1.0]);
    let buf = tensor(&[2], &[0.2, 0.0]);
    let out = interpret(&step, &[x, w, buf]).unwrap();
    // grad w = column sums of x = [4, 6]; + 0.01 * w
    let g0 = 4.0 + 0.01 * 0.5;
    let g1 = 6.0 - 0.01;
    let b0 = 0.9 * 0.2 + g0;
    let b1 = g1;
    assert_eq!(out[0].to_f64(), vec![0.5 - 2.0 + 1.5 - 4.0]);
    assert_eq!(out[2].to_f64(), vec![b0, b1]);
    assert_eq!(out[1].to_f64(), vec![0.5 - 0.1 * b0, -1.0 - 0.1 * b1]);
}

#[test]
fn adam_matches_the_torch_optim_formula() {
    let g = parse(MODEL).unwrap();
    let (lr, beta1, beta2, eps) = (0.01, 0.9, 0.999, 1e-8);
    let spec = TrainSpec {
        loss: "l".into(),
        params: vec!["w".into()],
        optimizer: Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: 0.0,
        },
    };
    let step = train_step(&g, &spec).unwrap();
    let names: Vec<&str> = step.inputs().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "x",
            "w",
            "adam_bias_correction1",
            "adam_bias_correction2_sqrt",
            "exp_avg_w",
            "exp_avg_sq_w"
        ]
    );
    let t = 3i32;
    let bias1 = 1.0 - beta1.powi(t);
    let bias2_sqrt = (1.0 - beta2.powi(t)).sqrt();
    let inputs = [
        tensor(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
        tensor(&[2], &[0.5, -1.0]),
        tensor(&[], &[bias1]),
        tensor(&[], &[bias2_sqrt]),
        tensor(&[2], &[0.1, 0.2]),
        tensor(&[2], &[0.3, 0.4]),
    ];
    let out = interpret(&step, &inputs).unwrap();
    let grads = [4.0, 6.0];
    for i in 0..2 {
        let m = beta1 * [0.1, 0.2][i] + (1.0 - beta1) * grads[i];
        let v = beta2 * [0.3, 0.4][i] + (1.0 - beta2) * grads[i] * grads[i];
        let want = [0.5, -1.0][i] - lr / bias1 * m / (v.sqrt() / bias2_sqrt + eps);
        let got = out[1].to_f64()[i];
        assert!((got - want).abs() < 1e-12, "w[{i}]: {got} vs {want}");
        assert!((out[2].to_f64()[i] - m).abs() < 1e-15);
        assert!((out[3].to_f64()[i] - v).abs() < 1e-15);
    }
}

#[test]
fn training_a_data_input_is_refused() {
    let g = parse(MODEL).unwrap();
    let spec = TrainSpec {
        loss: "l".into(),
        params: vec!["x".into()],
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
        },
    };
    let err = train_step(&g, &spec).unwrap_err().to_string();
    assert!(err.contains("`x`"), "{err}");
}
