//! Guards a person can read: hand-built remainders fold into `%`, conditions on them are decided
//! by ranges, and a guard implied by a recorded one is not recorded.
use kiln_shape::{Cond, Expr, ShapeEnv, ValueRange};

fn int(v: i64) -> Expr {
    Expr::int(v)
}

fn sym(name: &str) -> Expr {
    Expr::sym(name)
}

fn env_with(symbols: &[(&str, i64)]) -> ShapeEnv {
    let mut env = ShapeEnv::new();
    for (name, hint) in symbols {
        env.create_symbol(name, *hint, ValueRange::DYNAMIC_SIZE)
            .expect("hints of at least 2 fit the range");
    }
    env
}

const LIMIT: i64 = 1 << 31;

#[test]
fn a_minus_its_rounded_down_multiple_is_a_remainder() {
    let h = sym("H");
    let rounded = &int(2) * &h.floor_div(&int(2));
    assert_eq!((&h - &rounded).fold_remainders(), h.modulo(&int(2)));
    assert_eq!((&h - &rounded).fold_remainders().to_string(), "H%2");
    // Scaled, and with other factors: `C*N*H - 3*C*N*(H//3) == C*N*(H%3)`.
    let cn = &sym("C") * &sym("N");
    let scaled = &(&cn * &h) - &(&(&cn * &int(3)) * &h.floor_div(&int(3)));
    assert_eq!(scaled.fold_remainders(), &cn * &h.modulo(&int(3)));
    // A compound dividend, and a constant beside it.
    let a = &h + &sym("W");
    let shifted = &(&a + &int(5)) - &(&int(4) * &a.floor_div(&int(4)));
    assert_eq!(shifted.fold_remainders(), &a.modulo(&int(4)) + &int(5));
    // Equal in value, but not folded by the canonical form itself.
    assert_eq!((&h - &rounded).to_string(), "H - 2*(H//2)");
}

#[test]
fn quotient_and_remainder_recombine_into_the_dividend() {
    let h = sym("H");
    let k = int(4);
    let recombined = &(&k * &h.floor_div(&k)) + &h.modulo(&k);
    assert_eq!(recombined.fold_remainders(), h);
    let a = &(&int(3) * &h) + &sym("W");
    let recombined = &(&int(-2) * &(&k * &a.floor_div(&k))) + &(&int(-2) * &a.modulo(&k));
    assert_eq!(recombined.fold_remainders(), &int(-2) * &a);
}

#[test]
fn a_quotient_not_times_its_divisor_stays() {
    let h = sym("H");
    let e = &h - &(&int(3) * &h.floor_div(&int(2)));
    assert_eq!(e.fold_remainders().to_string(), "H - 3*(H//2)");
}

#[test]
fn remainder_conditions_are_decided_by_ranges() {
    let mut env = env_with(&[("H", 7), ("W", 3)]);
    let h = sym("H");
    let remainder = &h - &(&int(2) * &h.floor_div(&int(2)));
    // Whatever the ranges: a remainder by 2 is 0 or 1.
    assert_eq!(Cond::ge(remainder.clone(), int(0)), Cond::constant(true));
    assert_eq!(Cond::lt(remainder.clone(), int(2)), Cond::constant(true));
    assert_eq!(env.bounds(&remainder), ValueRange::new(0, 1));
    assert_eq!(
        env.bounds(&h.floor_div(&int(2))),
        ValueRange::new(1, i64::MAX / 2)
    );
    // `H%2 + W >= 2` needs the range `W >= 2`.
    let sum = &remainder + &sym("W");
    assert_eq!(env.decide(&Cond::ge(sum, int(2))), Ok(true));
    assert_eq!(env.decide(&Cond::ge(remainder.clone(), int(0))), Ok(true));
    assert!(env.guards().is_empty());
    // Which remainder it is still needs a guard.
    assert_eq!(env.decide(&Cond::ge(remainder, int(1))), Ok(true));
    assert_eq!(env.produce_guards().to_string(), "H%2 == 1");
}

#[test]
fn a_bound_on_a_product_implies_the_bound_on_its_factor() {
    let mut env = env_with(&[("N", 2), ("C", 16), ("H", 32), ("W", 32)]);
    let (n, c, h, w) = (sym("N"), sym("C"), sym("H"), sym("W"));
    let numel = &(&(&n * &c) * &h) * &w;
    assert_eq!(env.decide(&Cond::lt(numel.clone(), int(LIMIT))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(c.clone(), int(LIMIT))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(c.clone(), int(LIMIT + 1))), Ok(true));
    // Pooled sizes: C*N*(1 + H//2)*(1 + W//2) <= C*H*N*W for H, W >= 2.
    let pooled = |x: &Expr| &int(1) + &x.floor_div(&int(2));
    let pooled_numel = &(&(&n * &c) * &pooled(&h)) * &pooled(&w);
    assert_eq!(env.decide(&Cond::lt(pooled_numel, int(LIMIT))), Ok(true));
    assert_eq!(env.produce_guards().to_string(), "C*H*N*W < 2147483648");
    // A tighter limit is not implied.
    assert_eq!(env.decide(&Cond::lt(c.clone(), int(100))), Ok(true));
    assert_eq!(
        env.produce_guards().to_string(),
        "C < 100 and C*H*N*W < 2147483648"
    );
}

#[test]
fn a_stronger_guard_replaces_the_recorded_weaker_one() {
    let mut env = env_with(&[("N", 4), ("M", 3)]);
    let (n, m) = (sym("N"), sym("M"));
    assert_eq!(env.decide(&Cond::lt(n.clone(), int(LIMIT))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(&n * &m, int(LIMIT))), Ok(true));
    assert_eq!(env.guards(), [Cond::lt(&n * &m, int(LIMIT))]);
    // Lower bounds: neither of `N >= 4` and `N*M >= 10` implies the other (M may be large).
    assert_eq!(env.decide(&Cond::ge(n.clone(), int(4))), Ok(true));
    assert_eq!(env.decide(&Cond::ge(&n * &m, int(10))), Ok(true));
    assert_eq!(env.guards().len(), 3);
    // `N*M >= 8` follows from `N*M >= 10`.
    assert_eq!(env.decide(&Cond::ge(&n * &m, int(8))), Ok(true));
    assert_eq!(env.guards().len(), 3);
    // The negated answer (`N*M >= 6`) is what is checked for implication.
    assert_eq!(env.decide(&Cond::lt(&n * &m, int(6))), Ok(false));
    assert_eq!(env.guards().len(), 3);
    assert_eq!(
        env.produce_guards().to_string(),
        "M*N < 2147483648 and M*N >= 10 and N >= 4"
    );
}

#[test]
fn unrelated_and_non_canonical_guards_are_all_kept() {
    let mut env = env_with(&[("N", 4), ("M", 3)]);
    let (n, m) = (sym("N"), sym("M"));
    assert_eq!(env.decide(&Cond::lt(n.clone(), int(10))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(m.clone(), int(10))), Ok(true));
    assert_eq!(env.decide(&Cond::ne(n.clone(), int(5))), Ok(true));
    assert_eq!(env.decide(&Cond::lt(&n - &m, int(5))), Ok(true));
    assert_eq!(env.guards().len(), 4);
}

#[test]
fn remainder_conditions_read_as_equalities() {
    let w = sym("W");
    let shifted = (&w + &int(1)).modulo(&int(2));
    assert_eq!(Cond::ge(shifted.clone(), int(1)).to_string(), "W%2 == 0");
    assert_eq!(Cond::lt(shifted.clone(), int(1)).to_string(), "W%2 == 1");
    assert_eq!(Cond::ne(w.modulo(&int(2)), int(0)).to_string(), "W%2 == 1");
    assert_eq!(Cond::lt(w.modulo(&int(3)), int(3)), Cond::constant(true));
    assert_eq!(Cond::ge(w.modulo(&int(3)), int(3)), Cond::constant(false));
    assert_eq!(Cond::lt(w.modulo(&int(3)), int(2)).to_string(), "W%3 != 2");
    assert_eq!(Cond::ge(w.modulo(&int(3)), int(1)).to_string(), "W%3 != 0");
    assert_eq!(Cond::lt(w.modulo(&int(5)), int(3)).to_string(), "W%5 < 3");
    let odd_twice = (&(&int(2) * &w) + &int(1)).modulo(&int(4));
    assert_eq!(Cond::eq(odd_twice, int(3)).to_string(), "W%2 == 1");
}
