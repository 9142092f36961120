//! Canonical conditions and guard sets.
use kiln_shape::{Bindings, CmpOp, Cond, EvalError, Expr, GuardSet};

fn s(name: &str) -> Expr {
    Expr::sym(name)
}
fn int(v: i64) -> Expr {
    Expr::int(v)
}
fn values(pairs: &[(&str, i64)]) -> Bindings {
    let mut b = Bindings::new();
    for (name, v) in pairs {
        b.insert(name, *v);
    }
    b
}

#[test]
fn display_keeps_constants_on_the_right() {
    let nm = &s("N") * &s("M");
    assert_eq!(
        Cond::lt(nm.clone(), int(1 << 31)).to_string(),
        "M*N < 2147483648"
    );
    assert_eq!(Cond::eq(s("H"), int(8)).to_string(), "H == 8");
    assert_eq!(Cond::eq(int(8), s("H")).to_string(), "H == 8");
    assert_eq!(Cond::ge(s("N"), int(2)).to_string(), "N >= 2");
    assert_eq!(Cond::gt(s("N"), int(1)).to_string(), "N >= 2");
    assert_eq!(Cond::le(nm, int(10)).to_string(), "M*N < 11");
    assert_eq!(Cond::lt(s("N"), s("M")).to_string(), "M - N >= 1");
}

#[test]
fn equal_conditions_compare_equal() {
    let (n, m) = (s("N"), s("M"));
    assert_eq!(
        Cond::lt(n.clone(), m.clone()),
        Cond::gt(m.clone(), n.clone())
    );
    assert_eq!(Cond::lt(n.clone(), int(5)), Cond::le(n.clone(), int(4)));
    assert_eq!(Cond::ge(n.clone(), int(2)), Cond::lt(int(1), n.clone()));
    assert_eq!(
        Cond::eq(&n + &int(1), m.clone()),
        Cond::eq(m.clone(), &n + &int(1))
    );
    assert_eq!(Cond::lt(&int(2) * &n, int(5)), Cond::lt(n.clone(), int(3)));
    assert_eq!(
        Cond::new(int(-1) * n.clone(), CmpOp::Ge, int(-4)),
        Cond::lt(n.clone(), int(5))
    );
    // 2*N == 3 has no integer solution.
    assert_eq!(Cond::eq(&int(2) * &n, int(3)).as_bool(), Some(false));
    assert_eq!(Cond::ne(&int(2) * &n, int(3)).as_bool(), Some(true));
}

#[test]
fn negation_flips_and_stays_canonical() {
    let n = s("N");
    let lt = Cond::lt(n.clone(), int(5));
    assert_eq!(lt.negate(), Cond::ge(n.clone(), int(5)));
    assert_eq!(lt.negate().negate(), lt);
    assert_eq!(
        Cond::eq(n.clone(), int(3)).negate(),
        Cond::ne(n.clone(), int(3))
    );
    for v in -3..8 {
        let b = values(&[("N", v)]);
        assert_ne!(lt.eval(&b), lt.negate().eval(&b));
    }
}

#[test]
fn constant_conditions_answer_as_bool() {
    assert_eq!(Cond::lt(int(1), int(2)).as_bool(), Some(true));
    assert_eq!(Cond::eq(s("N"), s("N")).as_bool(), Some(true));
    assert_eq!(Cond::eq(int(1), int(2)).to_string(), "false");
    assert_eq!(Cond::lt(s("N"), int(2)).as_bool(), None);
}

#[test]
fn eval_reports_errors() {
    let c = Cond::lt(&s("N") * &s("M"), int(100));
    assert_eq!(c.eval(&values(&[("N", 3), ("M", 4)])), Ok(true));
    assert_eq!(c.eval(&values(&[("N", 30), ("M", 4)])), Ok(false));
    assert_eq!(
        c.eval(&values(&[("N", 3)])),
        Err(EvalError::Unbound("M".into()))
    );
    let huge = values(&[("N", i64::MAX), ("M", 2)]);
    assert!(matches!(c.eval(&huge), Err(EvalError::Overflow { .. })));
}

#[test]
fn guard_sets_are_sorted_and_deduplicated() {
    let a = Cond::eq(s("H"), int(8));
    let b = Cond::lt(&s("N") * &s("M"), int(1 << 31));
    let one = GuardSet::new(vec![a.clone(), b.clone(), a.clone()]);
    let other = GuardSet::new(vec![b.clone(), a.clone()]);
    assert_eq!(one, other);
    assert_eq!(one.conds().len(), 2);
    assert_eq!(one.to_string(), other.to_string());
    assert!(one.to_string().contains(" and "));
    assert_eq!(GuardSet::default().to_string(), "true");
    assert!(GuardSet::new(vec![]).is_empty());
}

#[test]
fn guard_sets_evaluate_and_explain_failures() {
    let set = GuardSet::new(vec![
        Cond::eq(s("H"), int(8)),
        Cond::lt(&s("N") * &s("M"), int(1 << 31)),
    ]);
    let ok = values(&[("H", 8), ("N", 4), ("M", 4)]);
    assert_eq!(set.eval(&ok), Ok(true));
    assert_eq!(set.first_failure(&ok), None);
    let wrong_h = values(&[("H", 9), ("N", 4), ("M", 4)]);
    assert_eq!(set.eval(&wrong_h), Ok(false));
    let failure = set.first_failure(&wrong_h).expect("H == 8 fails for H = 9");
    assert_eq!(failure.cond, Cond::eq(s("H"), int(8)));
    assert_eq!((failure.lhs, failure.rhs), (Ok(9), Ok(8)));
    let missing = values(&[("H", 8)]);
    assert!(set.eval(&missing).is_err());
    let failure = set.first_failure(&missing).expect("unbound symbols fail");
    assert_eq!(failure.lhs, Err(EvalError::Unbound("M".into())));
}

#[test]
fn guard_sets_round_trip_through_postcard() {
    let set = GuardSet::new(vec![
        Cond::eq(s("H"), int(8)),
        Cond::lt(&s("N") * &s("M"), int(1 << 31)),
        Cond::ge(s("W").floor_div(&int(2)).modulo(&int(3)), int(1)),
    ]);
    let bytes = postcard::to_stdvec(&set).expect("serialises");
    let back: GuardSet = postcard::from_bytes(&bytes).expect("deserialises");
    assert_eq!(back, set);
    assert_eq!(back.to_string(), set.to_string());
}
