//! Access proofs shared between programs decoded from the same bytes (`AccessCheck::for_digest`):
//! a proof made by one copy serves another copy with that digest at the same sizes; refusals
//! are never shared, and another digest or other sizes are proved afresh.
use kiln_sched::AccessCheck;

mod common;
use common::lower;

/// `x + y` with the guard `M == N`: in bounds at (64, 64), out of bounds at (M=16, N=64).
const BROADCAST: &str = "graph b\ninput x: f32[N]\ninput y: f32[M]\nz = add(x, y)\noutput z\n";
const GOOD: [i64; 2] = [64, 64];
const BAD: [i64; 2] = [16, 64];

#[test]
fn a_proof_is_shared_by_copies_with_the_same_digest_only() {
    let p = lower(BROADCAST, &[&[64], &[64]]);
    assert_eq!(p.symbols, ["M", "N"]);
    let digest = [0xA1; 32];
    AccessCheck::for_digest(digest)
        .ensure(&p, &GOOD)
        .expect("in bounds");
    // A second copy trusts the proof of its byte-identical twin: shown here by handing it a
    // program that would be refused at those sizes (a real copy is the same program).
    let mut damaged = p.clone();
    damaged.buffers[1].numel = kiln_shape::Expr::int(1);
    assert!(AccessCheck::new().ensure(&damaged, &GOOD).is_err());
    AccessCheck::for_digest(digest)
        .ensure(&damaged, &GOOD)
        .expect("proved by the copy with the same digest");
    // Another digest proves for itself.
    assert!(
        AccessCheck::for_digest([0xA2; 32])
            .ensure(&damaged, &GOOD)
            .is_err()
    );
}

#[test]
fn a_refusal_is_never_shared() {
    let p = lower(BROADCAST, &[&[64], &[64]]);
    let digest = [0xB1; 32];
    assert!(AccessCheck::for_digest(digest).ensure(&p, &BAD).is_err());
    assert!(
        AccessCheck::for_digest(digest).ensure(&p, &BAD).is_err(),
        "a refused size is proved again by the next copy, and refused again"
    );
}
