//! The shape environment: ranges, decisions and recorded guards.
use kiln_shape::{Bindings, Cond, Expr, ShapeEnv, ShapeError, ValueRange};

fn int(v: i64) -> Expr {
    Expr::int(v)
}

fn env_with(symbols: &[(&str, i64)], range: ValueRange) -> ShapeEnv {
    let mut env = ShapeEnv::new();
    for (name, hint) in symbols {
        env.create_symbol(name, *hint, range).expect("valid symbol");
    }
    env
}

#[test]
fn create_symbol_checks_hints() {
    let mut env = ShapeEnv::new();
    let n = env.create_symbol("N", 4, ValueRange::DYNAMIC_SIZE).unwrap();
    assert_eq!(n, Expr::sym("N"));
    assert_eq!(env.create_symbol("N", 4, ValueRange::DYNAMIC_SIZE), Ok(n));
    assert_eq!(
        env.create_symbol("N", 5, ValueRange::DYNAMIC_SIZE),
        Err(ShapeError::Redefined {
            name: "N".into(),
            existing: 4,
            new: 5
        })
    );
    assert!(matches!(
        env.create_symbol("M", 1, ValueRange::DYNAMIC_SIZE),
        Err(ShapeError::HintOutOfRange { hint: 1, lo: 2, .. })
    ));
    env.create_symbol("A", 0, ValueRange::SIZE).unwrap();
    let names: Vec<&str> = env.symbols().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["N", "A"]);
    assert_eq!(env.symbol("A").map(|s| s.hint), Some(0));
    assert_eq!(env.hints().get("N"), Some(4));
}

#[test]
fn ranges_decide_without_recording() {
    let mut env = env_with(&[("N", 4), ("M", 3)], ValueRange::DYNAMIC_SIZE);
    let (n, m) = (Expr::sym("N"), Expr::sym("M"));
    assert_eq!(env.decide(&Cond::ge(n.clone(), int(0))), Ok(true));
    assert_eq!(env.decide(&Cond::ne(n.clone(), int(1))), Ok(true));
    assert_eq!(env.decide(&Cond::eq(n.clone(), int(1))), Ok(false));
    assert_eq!(env.decide(&Cond::ge(&n * &m, int(0))), Ok(true));
    assert_eq!(
        env.decide(&Cond::lt(n.floor_div(&int(2)), int(0))),
        Ok(false)
    );
    assert_eq!(env.decide(&Cond::lt(n.modulo(&int(4)), int(4))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(int(1), int(2))), Ok(true));
    assert!(env.guards().is_empty());
    assert_eq!(env.statically_known(&Cond::lt(n.clone(), int(5))), None);
    assert_eq!(env.bounds(&(&n + &m)), ValueRange::new(4, i64::MAX));
}

#[test]
fn hints_decide_and_record_the_answer() {
    let mut env = env_with(&[("N", 4), ("M", 3)], ValueRange::DYNAMIC_SIZE);
    let (n, m) = (Expr::sym("N"), Expr::sym("M"));
    let small = Cond::lt(&n * &m, int(1 << 31));
    assert_eq!(env.decide(&small), Ok(true));
    let big = Cond::ge(n.clone(), int(100));
    assert_eq!(env.decide(&big), Ok(false));
    assert_eq!(env.decide(&small), Ok(true));
    assert_eq!(env.guards(), [small.clone(), big.negate()]);
    let set = env.produce_guards();
    assert_eq!(set.eval(&env.hints()), Ok(true));
    let mut other = Bindings::new();
    other.insert("N", 200);
    other.insert("M", 3);
    assert_eq!(set.eval(&other), Ok(false));
    assert_eq!(
        set.first_failure(&other).map(|f| f.cond),
        Some(big.negate())
    );
}

#[test]
fn specialize_records_equality() {
    let mut env = env_with(&[("H", 8)], ValueRange::DYNAMIC_SIZE);
    let h = Expr::sym("H");
    assert_eq!(env.specialize(&int(3)), Ok(3));
    assert!(env.guards().is_empty());
    assert_eq!(env.specialize(&(&h + &int(1)).floor_div(&int(3))), Ok(3));
    assert_eq!(env.guards()[0].to_string(), "(H + 1)//3 == 3");
    assert_eq!(env.size_hint(&(&h * &h)), Ok(64));
    assert_eq!(env.guards().len(), 1);
    env.record(Cond::eq(h.clone(), int(8)));
    env.record(Cond::eq(int(8), h.clone()));
    assert_eq!(env.guards().len(), 2);
    assert_eq!(
        env.produce_guards().to_string(),
        "H == 8 and (H + 1)//3 == 3"
    );
}

#[test]
fn evaluation_failures_are_typed() {
    let mut env = env_with(&[("N", 4)], ValueRange::DYNAMIC_SIZE);
    assert_eq!(
        env.size_hint(&Expr::sym("Q")),
        Err(ShapeError::UnknownSymbol("Q".into()))
    );
    let zero_division = Expr::sym("N").floor_div(&(&Expr::sym("N") - &int(4)));
    assert!(matches!(
        env.decide(&Cond::eq(zero_division, int(0))),
        Err(ShapeError::Eval { .. })
    ));
    assert!(env.guards().is_empty());
}
