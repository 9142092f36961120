//! Access ranges: a program is proved in bounds at the sizes it was compiled for and refused at
//! sizes its (removed) guards excluded, for elementwise broadcasting, pooling windows with
//! padding, adaptive windows and reductions; hand-damaged programs are refused.
use kiln_sched::{AccessCheck, AccessError, BufKind, Program, SchedOptions};
use kiln_shape::{Expr, Policy};

mod common;

fn lower(src: &str, shapes: &[&[i64]], policy: Policy) -> Program {
    common::try_lower(src, shapes, policy, &SchedOptions::default())
        .expect("schedules")
        .0
}

/// The program's symbol values from `(name, value)` pairs, in the program's order.
fn syms(p: &Program, values: &[(&str, i64)]) -> Vec<i64> {
    p.symbols
        .iter()
        .map(|s| values.iter().find(|(n, _)| n == s).expect("value given").1)
        .collect()
}

const BROADCAST: &str = "graph b\ninput x: f32[N]\ninput y: f32[M]\nz = add(x, y)\noutput z\n";

#[test]
fn broadcast_is_in_bounds_when_the_guarded_equality_holds_and_refused_when_not() {
    let p = lower(BROADCAST, &[&[64], &[64]], Policy::Dynamic);
    assert_eq!(p.symbols, vec!["M".to_string(), "N".to_string()]);
    p.check_accesses(&syms(&p, &[("M", 64), ("N", 64)]))
        .expect("the sizes it was compiled for are in bounds");
    // The guard `M - N == 0` made the kernel read both inputs at the output's index: with it
    // gone, M < N reads past y.
    let err = p
        .check_accesses(&syms(&p, &[("M", 16), ("N", 64)]))
        .expect_err("reading 64 elements of a 16-element buffer is refused");
    match err {
        AccessError::OutOfBounds { hi, numel, .. } => assert!(hi >= numel, "{err}"),
        other => panic!("expected out of bounds, got {other}"),
    }
}

#[test]
fn pooling_with_padding_and_ceil_mode_is_in_bounds_through_its_windows() {
    for pool in [
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "max_pool2d(x, kernel_size=[3, 2], stride=[2, 2], padding=[1, 0], ceil_mode=true)",
        "avg_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])",
        "adaptive_avg_pool2d(x, output_size=[3, 5])",
        "adaptive_max_pool2d(x, output_size=[7, 7])",
        // Dilation makes the windows' two conditions bound multiples of one expression
        // (`%o1 + %r0 >= 1`, `2*%o1 + 2*%r0 - H < 1`); both must still combine.
        "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[2, 2], ceil_mode=true)",
    ] {
        let src = format!("graph p\ninput x: f32[N, C, H, W]\np = {pool}\noutput p\n");
        for policy in [Policy::Dynamic, Policy::Static] {
            let p = lower(&src, &[&[2, 3, 13, 11]], policy.clone());
            let values = [("N", 2), ("C", 3), ("H", 13), ("W", 11)];
            p.check_accesses(&syms(&p, &values))
                .unwrap_or_else(|e| panic!("{pool} {policy:?}: {e}"));
        }
    }
}

#[test]
fn reductions_and_softmax_are_in_bounds_at_other_dynamic_sizes() {
    let src = "graph r\ninput x: f32[N, D]\ns = sum(x, dim=1)\nm = softmax(x, dim=1)\n\
               a = amax(x, dim=0, keepdim=true)\noutput s, m, a\n";
    let p = lower(src, &[&[4, 8]], Policy::Dynamic);
    for (n, d) in [(4, 8), (2, 2), (1000, 3), (3, 1000)] {
        p.check_accesses(&syms(&p, &[("N", n), ("D", d)]))
            .unwrap_or_else(|e| panic!("N={n} D={d}: {e}"));
    }
}

#[test]
fn a_damaged_offset_a_store_into_an_input_and_a_wrong_symbol_count_are_refused() {
    let p = lower(BROADCAST, &[&[64], &[64]], Policy::Dynamic);
    let ok = syms(&p, &[("M", 64), ("N", 64)]);
    let mut shifted = p.clone();
    let store = &mut shifted.kernels[0].stores[0];
    store.offset = &store.offset + &Expr::int(1);
    assert!(matches!(
        shifted.check_accesses(&ok),
        Err(AccessError::OutOfBounds { .. })
    ));
    let mut into_input = p.clone();
    let input = into_input
        .buffers
        .iter()
        .position(|b| matches!(b.kind, BufKind::Input(_)))
        .expect("an input buffer");
    into_input.kernels[0].stores[0].buf = input as u32;
    assert!(matches!(
        into_input.check_accesses(&ok),
        Err(AccessError::ReadOnlyStore { .. })
    ));
    assert!(matches!(
        p.check_accesses(&ok[..1]),
        Err(AccessError::SymbolCount { .. })
    ));
}

#[test]
fn a_32_bit_kernel_is_refused_past_2_to_the_31_elements() {
    let src = "graph e\ninput x: f32[N]\ny = relu(x)\noutput y\n";
    let p = lower(src, &[&[64]], Policy::Dynamic);
    assert_eq!(
        p.kernels[0].index_bits, 32,
        "small sizes index with 32 bits"
    );
    assert!(matches!(
        p.check_accesses(&[1 << 31]),
        Err(AccessError::IndexWidth { .. })
    ));
    p.check_accesses(&[(1 << 31) - 1])
        .expect("just below the limit");
}

#[test]
fn the_check_remembers_proved_sizes_and_still_refuses_others() {
    let p = lower(BROADCAST, &[&[64], &[64]], Policy::Dynamic);
    let check = AccessCheck::new();
    let good = syms(&p, &[("M", 64), ("N", 64)]);
    let bad = syms(&p, &[("M", 16), ("N", 64)]);
    check.ensure(&p, &good).expect("in bounds");
    check.ensure(&p, &good).expect("remembered");
    assert!(check.ensure(&p, &bad).is_err());
    assert!(
        check.ensure(&p, &bad).is_err(),
        "a refusal is not remembered as proved"
    );
}
