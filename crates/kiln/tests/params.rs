//! Bound parameters: two models of one architecture with different weights share one cache
//! entry (one miss, then hits) and each computes with its own weights; binding checks every
//! parameter once, with typed errors naming it.
mod cache_support;

use cache_support::{assert_matches_reference, compiler, data, entry_files};
use kiln::{DType, DynamicPolicy, InputError, KilnError, Model, Outcome, Role, Tensor};

/// `relu(x * w + b)` with `w`, `b` parameters and a symbolic batch.
const AFFINE: &str = "graph affine
input x: f32[N, 4]
param w: f32[4]
param b: f32[4]
m = mul(x, w)
a = add(m, b)
y = relu(a)
output y
";

fn weights(seed: u64) -> Vec<(&'static str, Tensor)> {
    vec![
        ("w", data(DType::F32, &[4], seed)),
        ("b", data(DType::F32, &[4], seed + 1)),
    ]
}

/// The model's output against the interpreter on the same data and weights.
fn check(model: &Model, x: &Tensor) -> Vec<Tensor> {
    let out = model.run(&[x]).expect("runs");
    let g = model.function().graph();
    let all = [x, model.param("w").unwrap(), model.param("b").unwrap()];
    assert_matches_reference(g, &all, &out);
    out
}

#[test]
fn models_with_different_weights_share_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiler(dir.path(), DynamicPolicy::Static);
    let g = kiln::parse(AFFINE).unwrap();
    let x = data(DType::F32, &[3, 4], 7);

    let first = c.compile(&g).unwrap().bind(weights(1)).unwrap();
    let out1 = check(&first, &x);
    assert_eq!(
        first.function().last_report().unwrap().outcome,
        Outcome::Miss
    );

    let second = c.compile(&g).unwrap().bind(weights(11)).unwrap();
    let out2 = check(&second, &x);
    assert_eq!(
        second.function().last_report().unwrap().outcome,
        Outcome::Hit
    );
    assert_ne!(out1, out2, "the weights must matter");
    assert_eq!(
        entry_files(dir.path()).len(),
        1,
        "one entry for both models"
    );

    // A fine-tuned copy: the same function, new weights; served from memory.
    let mut tuned = weights(1);
    tuned[0].1 = data(DType::F32, &[4], 21);
    let copy = first.rebind(tuned).unwrap();
    let out3 = check(&copy, &x);
    assert_ne!(out1, out3);
    assert_eq!(
        first.run(&[&x]).unwrap(),
        out1,
        "the original keeps its weights"
    );
    let counters = c.counters();
    assert_eq!((counters.miss, counters.hit), (1, 1), "{counters:?}");

    // And from a fresh compiler (a new process): a hit.
    let fresh = compiler(dir.path(), DynamicPolicy::Static);
    let third = fresh.compile(&g).unwrap().bind(weights(31)).unwrap();
    check(&third, &x);
    assert_eq!(
        third.function().last_report().unwrap().outcome,
        Outcome::Hit
    );
}

#[test]
fn a_model_runs_into_outputs_and_serves_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let model = c
        .compile(&kiln::parse(AFFINE).unwrap())
        .unwrap()
        .bind(weights(3))
        .unwrap();
    for n in [2, 5, 9] {
        let x = data(DType::F32, &[n, 4], n as u64);
        let out = check(&model, &x);
        let mut into = vec![Tensor::zeros(DType::F32, &[n, 4])];
        model.run_into(&[&x], &mut into).unwrap();
        assert_eq!(into, out);
    }
    assert_eq!(c.counters().miss, 1, "one dynamic entry serves every batch");
    // The same function, all inputs per call, agrees.
    let x = data(DType::F32, &[2, 4], 2);
    let all = [&x, model.param("w").unwrap(), model.param("b").unwrap()];
    assert_eq!(
        model.function().run(&all).unwrap(),
        model.run(&[&x]).unwrap()
    );
}

fn bind_err(params: Vec<(&'static str, Tensor)>) -> InputError {
    let c = kiln::Compiler::new(kiln::CompileOptions::default().no_cache());
    match c
        .compile(&kiln::parse(AFFINE).unwrap())
        .unwrap()
        .bind(params)
    {
        Err(KilnError::Input(e)) => e,
        Err(e) => panic!("expected an input error, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn binding_checks_every_parameter_once() {
    let mut p = weights(1);
    p.pop();
    assert_eq!(bind_err(p), InputError::MissingParam { name: "b".into() });

    let mut p = weights(1);
    p.push(("bias", data(DType::F32, &[4], 1)));
    let e = bind_err(p);
    assert!(matches!(e, InputError::UnknownParam { ref name, .. } if name == "bias"));
    assert!(e.to_string().contains("`w`, `b`"), "{e}");

    let mut p = weights(1);
    p[0].1 = data(DType::F64, &[4], 1);
    assert_eq!(
        bind_err(p),
        InputError::Dtype {
            role: Role::Param,
            name: "w".into(),
            expected: DType::F32,
            found: DType::F64
        }
    );

    let mut p = weights(1);
    p[1].1 = data(DType::F32, &[5], 1);
    let e = bind_err(p);
    assert_eq!(
        e.to_string(),
        "parameter `b` dim 0: expected size 4, found 5"
    );
    let mut p = weights(1);
    p[1].1 = data(DType::F32, &[1, 4], 1);
    assert!(matches!(
        bind_err(p),
        InputError::Rank {
            role: Role::Param,
            expected: 1,
            found: 2,
            ..
        }
    ));

    let mut p = weights(1);
    p.push(("w", data(DType::F32, &[4], 1)));
    assert_eq!(bind_err(p), InputError::DuplicateParam { name: "w".into() });
}

#[test]
fn a_call_passes_only_data_inputs() {
    let c = kiln::Compiler::new(kiln::CompileOptions::default().no_cache());
    let model = c
        .compile(&kiln::parse(AFFINE).unwrap())
        .unwrap()
        .bind(weights(1))
        .unwrap();
    let x = data(DType::F32, &[2, 4], 1);
    let w = model.param("w").unwrap().clone();
    match model.run(&[&x, &w]) {
        Err(KilnError::Input(InputError::Count {
            role: Role::Input,
            expected: 1,
            found: 2,
        })) => {}
        other => panic!("{other:?}"),
    }
    match model.run(&[&data(DType::F32, &[2, 3], 1)]) {
        Err(KilnError::Input(InputError::Dim {
            name,
            dim: 1,
            found: 3,
            ..
        })) => {
            assert_eq!(name, "x")
        }
        other => panic!("{other:?}"),
    }
    let mut short = x.clone();
    short.data.truncate(4);
    assert!(matches!(
        model.run(&[&short]),
        Err(KilnError::Input(InputError::Bytes { .. }))
    ));
}
