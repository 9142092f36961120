//! Property tests: canonical forms agree with a naive evaluation of the tree they were built
//! from, do not depend on the order of construction, and guards recorded on hints behave.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kiln_shape::{Bindings, CmpOp, Cond, EvalError, Expr, GuardSet, ShapeEnv, ValueRange};
use proptest::prelude::*;

const NAMES: [&str; 3] = ["A", "B", "N"];

/// An expression as built by a naive caller, evaluated independently of kiln-shape.
#[derive(Debug, Clone)]
enum Tree {
    Const(i64),
    Sym(usize),
    Add(Box<Tree>, Box<Tree>),
    Sub(Box<Tree>, Box<Tree>),
    Mul(Box<Tree>, Box<Tree>),
    Neg(Box<Tree>),
    FloorDiv(Box<Tree>, Box<Tree>),
    CeilDiv(Box<Tree>, Box<Tree>),
    Mod(Box<Tree>, Box<Tree>),
    Min(Box<Tree>, Box<Tree>),
    Max(Box<Tree>, Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        (-6i64..=6).prop_map(Tree::Const),
        (0..NAMES.len()).prop_map(Tree::Sym),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        let pair = || (inner.clone(), inner.clone());
        prop_oneof![
            pair().prop_map(|(a, b)| Tree::Add(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::Sub(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::Mul(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| Tree::Neg(Box::new(a))),
            pair().prop_map(|(a, b)| Tree::FloorDiv(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::CeilDiv(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::Mod(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::Min(Box::new(a), Box::new(b))),
            pair().prop_map(|(a, b)| Tree::Max(Box::new(a), Box::new(b))),
        ]
    })
}

fn build(t: &Tree) -> Expr {
    match t {
        Tree::Const(v) => Expr::int(*v),
        Tree::Sym(i) => Expr::sym(NAMES[*i]),
        Tree::Add(a, b) => &build(a) + &build(b),
        Tree::Sub(a, b) => &build(a) - &build(b),
        Tree::Mul(a, b) => &build(a) * &build(b),
        Tree::Neg(a) => -&build(a),
        Tree::FloorDiv(a, b) => build(a).floor_div(&build(b)),
        Tree::CeilDiv(a, b) => build(a).ceil_div(&build(b)),
        Tree::Mod(a, b) => build(a).modulo(&build(b)),
        Tree::Min(a, b) => Expr::min(&build(a), &build(b)),
        Tree::Max(a, b) => Expr::max(&build(a), &build(b)),
    }
}

fn floor_div(a: i128, b: i128) -> Option<i128> {
    if b == 0 {
        return None;
    }
    let q = a / b;
    Some(if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

/// Python semantics in i128; `None` on division by zero or i128 overflow.
fn naive(t: &Tree, v: &[i64; 3]) -> Option<i128> {
    let pair = |a: &Tree, b: &Tree| Some((naive(a, v)?, naive(b, v)?));
    match t {
        Tree::Const(c) => Some(i128::from(*c)),
        Tree::Sym(i) => Some(i128::from(v[*i])),
        Tree::Add(a, b) => pair(a, b).and_then(|(x, y)| x.checked_add(y)),
        Tree::Sub(a, b) => pair(a, b).and_then(|(x, y)| x.checked_sub(y)),
        Tree::Mul(a, b) => pair(a, b).and_then(|(x, y)| x.checked_mul(y)),
        Tree::Neg(a) => naive(a, v)?.checked_neg(),
        Tree::FloorDiv(a, b) => pair(a, b).and_then(|(x, y)| floor_div(x, y)),
        Tree::CeilDiv(a, b) => pair(a, b).and_then(|(x, y)| Some(-floor_div(-x, y)?)),
        Tree::Mod(a, b) => pair(a, b).and_then(|(x, y)| Some(x - y * floor_div(x, y)?)),
        Tree::Min(a, b) => pair(a, b).map(|(x, y)| x.min(y)),
        Tree::Max(a, b) => pair(a, b).map(|(x, y)| x.max(y)),
    }
}

fn bindings(v: &[i64; 3]) -> Bindings {
    let mut b = Bindings::new();
    for (name, value) in NAMES.iter().zip(v) {
        b.insert(name, *value);
    }
    b
}

fn hash_of<T: Hash>(x: &T) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

fn values() -> impl Strategy<Value = [i64; 3]> {
    [-5i64..=5, -5i64..=5, -5i64..=5]
}

fn sizes() -> impl Strategy<Value = [i64; 3]> {
    [2i64..=9, 2i64..=9, 2i64..=9]
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
    ]
}

fn env_with_hints(hints: &[i64; 3]) -> ShapeEnv {
    let mut env = ShapeEnv::new();
    for (name, hint) in NAMES.iter().zip(hints) {
        env.create_symbol(name, *hint, ValueRange::DYNAMIC_SIZE)
            .expect("hints of at least 2 fit the range");
    }
    env
}

/// A size-like product: symbols, pooled sizes `1 + X//2` and small constants.
fn size_product() -> impl Strategy<Value = Tree> {
    let factor = prop_oneof![
        (0..NAMES.len()).prop_map(Tree::Sym),
        (0..NAMES.len()).prop_map(|i| Tree::Add(
            Box::new(Tree::Const(1)),
            Box::new(Tree::FloorDiv(
                Box::new(Tree::Sym(i)),
                Box::new(Tree::Const(2))
            )),
        )),
        (1i64..=3).prop_map(Tree::Const),
    ];
    prop::collection::vec(factor, 1..5).prop_map(|factors| {
        factors
            .into_iter()
            .reduce(|p, f| Tree::Mul(Box::new(p), Box::new(f)))
            .unwrap_or(Tree::Const(1))
    })
}

/// Conditions of which many imply one another: bounds on size products, and arbitrary ones.
fn decision() -> impl Strategy<Value = (Tree, CmpOp, Tree)> {
    prop_oneof![
        3 => (size_product(), op(), (-20i64..=400).prop_map(Tree::Const)),
        1 => (tree(), op(), tree()),
    ]
}

proptest! {
    #[test]
    fn canonical_form_evaluates_like_the_tree(t in tree(), v in values()) {
        let e = build(&t);
        let got = e.eval(&bindings(&v));
        match naive(&t, &v) {
            // Small leaves keep every value far from i64's limits.
            Some(expected) => prop_assert_eq!(got.map(i128::from), Ok(expected), "{}", e),
            // Where the tree divides by zero, a polynomial identity may have removed the division
            // (`(N//0)*0 == 0`); otherwise evaluation must report it.
            None => prop_assert!(
                matches!(got, Ok(_) | Err(EvalError::DivisionByZero { .. })),
                "{} gave {:?}", e, got
            ),
        }
    }

    #[test]
    fn construction_order_does_not_matter(ts in prop::collection::vec(tree(), 1..5)) {
        let exprs: Vec<Expr> = ts.iter().map(build).collect();
        let forward = exprs.iter().fold(Expr::int(0), |acc, e| &acc + e);
        let backward = exprs.iter().rev().fold(Expr::int(0), |acc, e| &acc + e);
        prop_assert_eq!(&forward, &backward);
        prop_assert_eq!(hash_of(&forward), hash_of(&backward));
        let product = exprs.iter().take(3).fold(Expr::int(1), |acc, e| &acc * e);
        let reversed = exprs.iter().take(3).rev().fold(Expr::int(1), |acc, e| &acc * e);
        prop_assert_eq!(&product, &reversed);
        prop_assert_eq!(hash_of(&product), hash_of(&reversed));
        let mut shuffled = exprs.clone();
        shuffled.rotate_left(1);
        prop_assert_eq!(Expr::min_of(&exprs), Expr::min_of(&shuffled));
        prop_assert_eq!(Expr::max_of(&exprs), Expr::max_of(&shuffled));
        prop_assert_eq!(&forward - &forward, Expr::int(0));
    }

    #[test]
    fn products_distribute(a in tree(), b in tree(), c in tree()) {
        let (a, b, c) = (build(&a), build(&b), build(&c));
        prop_assert_eq!(&a * &(&b + &c), &(&a * &b) + &(&a * &c));
    }

    #[test]
    fn canonicalisation_is_idempotent_and_display_deterministic(t in tree()) {
        let e = build(&t);
        let again = build(&t);
        prop_assert_eq!(e.to_string(), again.to_string());
        let rebuilt = e.subst(&|_| None);
        prop_assert_eq!(&rebuilt, &e);
        prop_assert_eq!(rebuilt.to_string(), e.to_string());
    }

    #[test]
    fn serde_round_trips(a in tree(), b in tree(), op in op()) {
        let e = build(&a);
        let bytes = postcard::to_stdvec(&e).expect("serialises");
        let back: Expr = postcard::from_bytes(&bytes).expect("deserialises");
        prop_assert_eq!(&back, &e);
        let cond = Cond::new(e, op, build(&b));
        let set = GuardSet::new(vec![cond.clone(), cond.negate()]);
        let bytes = postcard::to_stdvec(&set).expect("serialises");
        let back: GuardSet = postcard::from_bytes(&bytes).expect("deserialises");
        prop_assert_eq!(back, set);
    }

    #[test]
    fn conditions_agree_with_the_tree(a in tree(), b in tree(), op in op(), v in values()) {
        let cond = Cond::new(build(&a), op, build(&b));
        prop_assert_eq!(&cond, &Cond::new(build(&b), op.flip(), build(&a)));
        prop_assert_eq!(&cond.negate().negate(), &cond);
        let values = bindings(&v);
        if let (Some(x), Some(y)) = (naive(&a, &v), naive(&b, &v)) {
            prop_assert_eq!(cond.eval(&values), Ok(op.holds(x, y)), "{}", cond);
            prop_assert_eq!(cond.negate().eval(&values), Ok(!op.holds(x, y)));
        }
    }

    #[test]
    fn bounds_contain_every_value(t in tree(), v in sizes()) {
        let env = env_with_hints(&v);
        let e = build(&t);
        let range = env.bounds(&e);
        if let Ok(value) = e.eval(&env.hints()) {
            prop_assert!(range.contains(value), "{} = {} outside {:?}", e, value, range);
        }
    }

    #[test]
    fn linear_in_splits_exactly(t in tree(), sym in 0..NAMES.len()) {
        let e = build(&t);
        let name = NAMES[sym];
        if let Some((coeff, rest)) = e.linear_in(name) {
            prop_assert!(!coeff.mentions(name) && !rest.mentions(name));
            prop_assert_eq!(&(&coeff * &Expr::sym(name)) + &rest, e);
        }
    }

    #[test]
    fn decided_guards_hold_on_hints_and_fail_on_the_other_side(
        a in tree(), b in tree(), op in op(), hints in sizes(), others in prop::collection::vec(sizes(), 8),
    ) {
        let mut env = env_with_hints(&hints);
        let cond = Cond::new(build(&a), op, build(&b));
        let Ok(answer) = env.decide(&cond) else {
            // Undefined on the hints (division by zero): nothing may be recorded.
            prop_assert!(env.guards().is_empty());
            return Ok(());
        };
        // Ranges answer for every assignment on which the condition evaluates, so a condition
        // decided by them may still fail to evaluate (`5 == 0//(0%0)`).
        match cond.eval(&env.hints()) {
            Ok(holds) => prop_assert_eq!(holds, answer, "{}", cond),
            Err(_) => prop_assert!(env.statically_known(&cond).is_some()),
        }
        let guards = env.produce_guards();
        prop_assert_eq!(guards.eval(&env.hints()), Ok(true), "{}", guards);
        let known = env.statically_known(&cond);
        for other in &others {
            let values = bindings(other);
            match cond.eval(&values) {
                // Ranges decided it: it must hold the same way everywhere in the ranges.
                Ok(holds) if known.is_some() => prop_assert_eq!(Some(holds), known, "{}", cond),
                Ok(holds) if holds != answer => {
                    prop_assert_eq!(guards.eval(&values), Ok(false), "{} at {:?}", guards, other);
                    prop_assert!(guards.first_failure(&values).is_some());
                }
                Ok(_) => prop_assert_eq!(guards.eval(&values), Ok(true), "{}", guards),
                Err(_) => {}
            }
        }
    }

    /// Guards dropped as implied (and guards replaced by stronger ones) lose nothing: wherever
    /// the recorded guards hold in the ranges, every decision taken comes out the same.
    #[test]
    fn every_decision_holds_wherever_the_recorded_guards_hold(
        decisions in prop::collection::vec(decision(), 1..10),
        hints in sizes(),
        others in prop::collection::vec(sizes(), 48),
    ) {
        let mut env = env_with_hints(&hints);
        let mut decided = Vec::new();
        for (a, op, b) in &decisions {
            let cond = Cond::new(build(a), *op, build(b));
            if let Ok(answer) = env.decide(&cond) {
                decided.push((cond, answer));
            }
        }
        let guards = env.produce_guards();
        prop_assert_eq!(guards.eval(&env.hints()), Ok(true), "{}", guards);
        for other in &others {
            let values = bindings(other);
            if guards.eval(&values) != Ok(true) {
                continue;
            }
            for (cond, answer) in &decided {
                if let Ok(holds) = cond.eval(&values) {
                    prop_assert_eq!(holds, *answer, "{} at {:?} under {}", cond, other, guards);
                }
            }
        }
    }
}
