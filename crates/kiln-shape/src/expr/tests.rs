use super::*;
use crate::env::Bindings;

fn n() -> Expr {
    Expr::sym("N")
}
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
fn like_terms_combine() {
    assert_eq!(&(&int(2) * &n()) + &n(), &int(3) * &n());
    assert_eq!(&n() - &n(), int(0));
    assert_eq!(
        (&n() + &int(1)) * (&n() - &int(1)),
        &(&n() * &n()) - &int(1)
    );
    assert_eq!(&s("N") * &s("W"), &s("W") * &s("N"));
}

#[test]
fn constants_fold() {
    assert_eq!(&int(2) + &int(3), int(5));
    assert_eq!(int(7).floor_div(&int(-2)), int(-4));
    assert_eq!(int(-7).modulo(&int(3)), int(2));
    assert_eq!(int(7).modulo(&int(-3)), int(-2));
    assert_eq!(int(7).ceil_div(&int(2)), int(4));
    assert_eq!(Expr::min(&int(3), &int(5)), int(3));
    assert_eq!(Expr::max(&int(3), &int(5)), int(5));
    assert_eq!(int(5).as_int(), Some(5));
    assert!(n().as_int().is_none());
}

#[test]
fn exact_division_by_a_constant() {
    assert_eq!((&n() * &int(4)).floor_div(&int(2)), &int(2) * &n());
    assert_eq!(n().floor_div(&int(1)), n());
    assert_eq!(n().floor_div(&int(-1)), -n());
    // (4*N + 6) // 2 == 2*N + 3
    assert_eq!(
        (&(&int(4) * &n()) + &int(6)).floor_div(&int(2)),
        &(&int(2) * &n()) + &int(3)
    );
}

#[test]
fn multiples_of_the_divisor_leave_the_division() {
    let h = s("H");
    // (4*N + H + 1) // 4 == N + (H + 1)//4
    let e = (&(&(&int(4) * &n()) + &h) + &int(1)).floor_div(&int(4));
    assert_eq!(e, &n() + &(&h + &int(1)).floor_div(&int(4)));
    // (H + 5)//3 == (H + 2)//3 + 1
    assert_eq!(
        (&h + &int(5)).floor_div(&int(3)),
        &(&h + &int(2)).floor_div(&int(3)) + &int(1)
    );
    // A common factor of the remainder and the divisor cancels: (2*N + 2)//4 == (N + 1)//2.
    assert_eq!(
        (&(&int(2) * &n()) + &int(2)).floor_div(&int(4)),
        (&n() + &int(1)).floor_div(&int(2))
    );
    // Nested constant divisions merge.
    assert_eq!(
        n().floor_div(&int(2)).floor_div(&int(3)),
        n().floor_div(&int(6))
    );
    // Also once a common factor is divided out: (2*(N//2)) // 6 == (N//2) // 3 == N // 6
    // (proptest found `ceil(ceil(N/2)*2 / 6)` printing one form and rebuilding to another).
    let twice_half = &int(2) * &n().floor_div(&int(2));
    assert_eq!(twice_half.floor_div(&int(6)), n().floor_div(&int(6)));
    let e = (&int(2) * &n().ceil_div(&int(2))).ceil_div(&int(6));
    assert_eq!(e, n().ceil_div(&int(6)));
    assert_eq!(e.subst(&|_| None), e);
}

#[test]
fn symbolic_divisors_stay() {
    let e = n().floor_div(&s("M"));
    assert_eq!(e.to_string(), "N//M");
    // N // N is not 1 when N == 0, so it must stay.
    assert!(n().floor_div(&n()).as_int().is_none());
    assert!(n().modulo(&n()).as_int().is_none());
    assert!(n().floor_div(&int(0)).as_int().is_none());
}

#[test]
fn modulo_reduces() {
    assert_eq!(n().modulo(&int(1)), int(0));
    assert_eq!((&int(3) * &n()).modulo(&int(3)), int(0));
    // (3*N + 5) % 2 == (N + 1) % 2
    assert_eq!(
        (&(&int(3) * &n()) + &int(5)).modulo(&int(2)),
        (&n() + &int(1)).modulo(&int(2))
    );
    // (N % 8) % 4 == N % 4, but (N % 4) % 8 stays N % 4 only through evaluation.
    assert_eq!(n().modulo(&int(8)).modulo(&int(4)), n().modulo(&int(4)));
    // (2*N) % 4 == 2*(N % 2)
    assert_eq!(
        (&int(2) * &n()).modulo(&int(4)),
        &int(2) * &n().modulo(&int(2))
    );
    // (2*(N % 6)) % 4 == 2*((N % 6) % 2) == 2*(N % 2), in one step as on a rebuild.
    let e = (&int(2) * &n().modulo(&int(6))).modulo(&int(4));
    assert_eq!(e, &int(2) * &n().modulo(&int(2)));
    assert_eq!(e.subst(&|_| None), e);
}

#[test]
fn min_max_simplify() {
    // `Expr::min` spelled out: on an owned receiver, `.min` would resolve to `Ord::min`.
    let (n, m, k, h) = (n(), s("M"), s("K"), s("H"));
    let n_plus_2 = &n + &int(2);
    assert_eq!(Expr::min(&n, &n), n);
    assert_eq!(Expr::min(&n, &n_plus_2), n);
    assert_eq!(Expr::max(&n, &n_plus_2), n_plus_2);
    assert_eq!(Expr::min(&n, &m), Expr::min(&m, &n));
    let nested = Expr::min(&Expr::min(&n, &m), &k);
    assert_eq!(nested, Expr::min(&k, &Expr::min(&m, &n)));
    assert_eq!(Expr::min_of(&[k, m, n]), Some(nested));
    assert_eq!(Expr::min(&h, &int(4)).to_string(), "Min(H, 4)");
    assert_eq!(Expr::max(&int(4), &h).to_string(), "Max(H, 4)");
    assert_eq!(Expr::max_of(&[]), None);
}

#[test]
fn display_is_readable() {
    let h = s("H");
    assert_eq!((&(&int(3) * &n()) + &int(2)).to_string(), "3*N + 2");
    assert_eq!((&n() * &s("W")).to_string(), "N*W");
    assert_eq!((&h + &int(2)).floor_div(&int(3)).to_string(), "(H + 2)//3");
    assert_eq!((&n() + &int(1)).modulo(&int(4)).to_string(), "(N + 1)%4");
    assert_eq!((&int(5) - &n()).to_string(), "-N + 5");
    assert_eq!((&n() - &int(5)).to_string(), "N - 5");
    assert_eq!((&n() * &n()).to_string(), "N**2");
    assert_eq!(int(-3).to_string(), "-3");
    assert_eq!((&int(2) * &n().floor_div(&int(3))).to_string(), "2*(N//3)");
    assert_eq!((-n().floor_div(&int(3))).to_string(), "-(N//3)");
    assert_eq!(n().ceil_div(&int(3)).to_string(), "-((-N)//3)");
    assert_eq!(
        n().floor_div(&(&s("M") + &int(1))).to_string(),
        "N//(M + 1)"
    );
}

#[test]
fn eval_checks_every_operation() {
    let v = values(&[("N", 7), ("M", 0), ("B", i64::MAX), ("L", i64::MIN)]);
    assert_eq!((&(&int(3) * &n()) + &int(2)).eval(&v), Ok(23));
    assert_eq!(n().ceil_div(&int(2)).eval(&v), Ok(4));
    assert!(matches!(
        n().floor_div(&s("M")).eval(&v),
        Err(EvalError::DivisionByZero { .. })
    ));
    assert!(matches!(
        n().modulo(&s("M")).eval(&v),
        Err(EvalError::DivisionByZero { .. })
    ));
    assert!(matches!(
        (&s("B") + &int(1)).eval(&v),
        Err(EvalError::Overflow { .. })
    ));
    assert!(matches!(
        (&s("B") * &s("B")).eval(&v),
        Err(EvalError::Overflow { .. })
    ));
    assert!(matches!(
        (-s("L")).eval(&v),
        Err(EvalError::Overflow { .. })
    ));
    let minus_one = &s("M") - &int(1);
    assert!(matches!(
        s("L").floor_div(&minus_one).eval(&v),
        Err(EvalError::Overflow { .. })
    ));
    assert_eq!(s("L").modulo(&minus_one).eval(&v), Ok(0));
    assert_eq!(s("X").eval(&v), Err(EvalError::Unbound("X".to_string())));
}

#[test]
fn coefficient_overflow_stays_exact() {
    let big = &int(i64::MAX) * &n();
    let sum = &big + &big;
    assert_eq!(sum.eval(&values(&[("N", 0)])), Ok(0));
    assert!(matches!(
        sum.eval(&values(&[("N", 1)])),
        Err(EvalError::Overflow { .. })
    ));
    let unfolded = &int(i64::MAX) + &int(1);
    assert!(unfolded.as_int().is_none());
    assert!(matches!(
        unfolded.eval(&Bindings::new()),
        Err(EvalError::Overflow { .. })
    ));
    assert_eq!(
        (-int(i64::MIN)).to_string(),
        "((-9223372036854775808)*(-1))"
    );
    assert_eq!(
        int(i64::MIN).floor_div(&int(-1)).to_string(),
        "(-9223372036854775808)//(-1)"
    );
}

#[test]
fn linear_in_finds_strides() {
    let (i0, i1) = (s("i0"), s("i1"));
    let e = &(&(&int(3) * &i0) + &(&(&int(5) * &n()) * &i1)) + &int(7);
    assert_eq!(
        e.linear_in("i1"),
        Some((&int(5) * &n(), &(&int(3) * &i0) + &int(7)))
    );
    assert_eq!(e.linear_in("absent"), Some((int(0), e.clone())));
    assert_eq!((&i1 * &i1).linear_in("i1"), None);
    assert_eq!(i1.floor_div(&int(2)).linear_in("i1"), None);
}

#[test]
fn subst_recanonicalises() {
    let e = &(&n() * &s("M")) + &n().floor_div(&int(2));
    let replaced = e.subst(&|name| (name == "N").then(|| int(4)));
    assert_eq!(replaced, &(&int(4) * &s("M")) + &int(2));
    assert_eq!(e.subst(&|_| None), e);
    let symbols: Vec<String> = e.symbols().into_iter().collect();
    assert_eq!(symbols, ["M", "N"]);
    assert_eq!(n().as_sym(), Some("N"));
    assert_eq!((&n() + &int(1)).as_sym(), None);
}

#[test]
fn terms_expose_the_polynomial() {
    let e = &(&int(3) * &(&n() * &n())) + &int(2);
    let terms: Vec<(i64, Vec<(String, u32)>)> = e
        .terms()
        .map(|(c, fs)| {
            let fs = fs
                .iter()
                .map(|f| (f.atom().to_string(), f.power()))
                .collect();
            (c, fs)
        })
        .collect();
    assert_eq!(terms, [(3, vec![("N".to_string(), 2)])]);
    assert_eq!(e.constant_term(), 2);
    assert_eq!(n().pow(3), &(&n() * &n()) * &n());
    assert_eq!(n().pow(0), int(1));
}
