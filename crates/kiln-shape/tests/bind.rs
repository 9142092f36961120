//! Binding input shapes to symbols and specialising them under a policy.
use std::collections::BTreeSet;

use kiln_shape::{
    BindError, Cond, Dim, Expr, Policy, ShapeEnv, ValueRange, bind_symbols, specialize_inputs,
};

fn decls() -> Vec<(String, Vec<Dim>)> {
    vec![
        (
            "x".into(),
            vec![Dim::sym("N"), Dim::Fixed(3), Dim::sym("H")],
        ),
        ("y".into(), vec![Dim::sym("N"), Dim::sym("W")]),
    ]
}

#[test]
fn binds_consistent_shapes() {
    let b = bind_symbols(&decls(), &[vec![5, 3, 1], vec![5, 7]]).expect("consistent");
    assert_eq!(
        (b.get("N"), b.get("H"), b.get("W")),
        (Some(5), Some(1), Some(7))
    );
}

#[test]
fn bind_errors_say_where() {
    assert_eq!(
        bind_symbols(&decls(), &[vec![5, 3, 1]]),
        Err(BindError::InputCount {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        bind_symbols(&decls(), &[vec![5, 3], vec![5, 7]]),
        Err(BindError::Rank {
            input: "x".into(),
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        bind_symbols(&decls(), &[vec![5, 4, 1], vec![5, 7]]),
        Err(BindError::FixedDim {
            input: "x".into(),
            dim: 1,
            expected: 3,
            found: 4
        })
    );
    assert_eq!(
        bind_symbols(&decls(), &[vec![5, 3, -1], vec![5, 7]]),
        Err(BindError::BadSize {
            input: "x".into(),
            dim: 2,
            found: -1
        })
    );
    let conflict = bind_symbols(&decls(), &[vec![5, 3, 1], vec![6, 7]]).unwrap_err();
    assert_eq!(
        conflict,
        BindError::Conflict {
            symbol: "N".into(),
            first_input: "x".into(),
            first_dim: 0,
            first_value: 5,
            second_input: "y".into(),
            second_dim: 0,
            second_value: 6,
        }
    );
    let message = conflict.to_string();
    assert!(
        message.contains("`x` dim 0") && message.contains("`y` dim 0"),
        "{message}"
    );
}

#[test]
fn static_policy_specialises_everything() {
    let values = bind_symbols(&decls(), &[vec![5, 3, 1], vec![5, 7]]).unwrap();
    let mut env = ShapeEnv::new();
    let shapes = specialize_inputs(&mut env, &decls(), &values, &Policy::Static).unwrap();
    let int = Expr::int;
    assert_eq!(shapes, [vec![int(5), int(3), int(1)], vec![int(5), int(7)]]);
    let guards = env.produce_guards();
    assert_eq!(guards.to_string(), "H == 1 and N == 5 and W == 7");
}

#[test]
fn dynamic_policy_keeps_sizes_above_one_symbolic() {
    let values = bind_symbols(&decls(), &[vec![5, 3, 1], vec![5, 7]]).unwrap();
    let mut env = ShapeEnv::new();
    let shapes = specialize_inputs(&mut env, &decls(), &values, &Policy::Dynamic).unwrap();
    let (n, w) = (Expr::sym("N"), Expr::sym("W"));
    assert_eq!(
        shapes,
        [vec![n.clone(), Expr::int(3), Expr::int(1)], vec![n, w]]
    );
    assert_eq!(env.guards(), [Cond::eq(Expr::sym("H"), Expr::int(1))]);
    assert_eq!(
        env.symbol("N").map(|s| s.range),
        Some(ValueRange::DYNAMIC_SIZE)
    );
    assert_eq!(env.symbol("N").map(|s| s.hint), Some(5));
}

#[test]
fn dynamic_symbols_policy_names_the_dynamic_ones() {
    let values = bind_symbols(&decls(), &[vec![5, 3, 1], vec![5, 7]]).unwrap();
    let mut env = ShapeEnv::new();
    let policy = Policy::DynamicSymbols(BTreeSet::from(["W".to_string(), "H".to_string()]));
    let shapes = specialize_inputs(&mut env, &decls(), &values, &policy).unwrap();
    assert_eq!(shapes[0], [Expr::int(5), Expr::int(3), Expr::int(1)]);
    assert_eq!(shapes[1], [Expr::int(5), Expr::sym("W")]);
    assert_eq!(env.produce_guards().to_string(), "H == 1 and N == 5");
}
