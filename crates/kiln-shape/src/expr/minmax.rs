//! Canonical n-ary minimum and maximum.
use super::{Atom, Expr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Min,
    Max,
}

impl Kind {
    fn atom(self, args: Vec<Expr>) -> Atom {
        match self {
            Kind::Min => Atom::Min(args),
            Kind::Max => Atom::Max(args),
        }
    }
    fn unwrap_same(self, atom: &Atom) -> Option<&[Expr]> {
        match (self, atom) {
            (Kind::Min, Atom::Min(args)) | (Kind::Max, Atom::Max(args)) => Some(args),
            _ => None,
        }
    }
    /// Whether `a` wins over `b` when `a - b == difference`.
    fn keeps_first(self, difference: i64) -> bool {
        match self {
            Kind::Min => difference <= 0,
            Kind::Max => difference >= 0,
        }
    }
}

/// The minimum or maximum of `args` (at least one): nested atoms of the same kind flattened,
/// duplicates removed, and any argument dropped that another one beats by a constant for every
/// value of the symbols (`Min(N, N + 2) == N`, `Max(3, 5) == 5`).
pub(super) fn extremum(args: impl IntoIterator<Item = Expr>, kind: Kind) -> Expr {
    let mut flat = Vec::new();
    for arg in args {
        match arg.as_single_atom().and_then(|a| kind.unwrap_same(a)) {
            Some(inner) => flat.extend_from_slice(inner),
            None => flat.push(arg),
        }
    }
    // Constants last, so that displays read `Min(H, 4)`.
    flat.sort_by(|a, b| (a.is_const(), a).cmp(&(b.is_const(), b)));
    flat.dedup();
    while let Some((loser, _)) = find_dominated(&flat, kind) {
        flat.remove(loser);
    }
    match flat.len() {
        0 => Expr::atom(kind.atom(flat)),
        1 => flat.swap_remove(0),
        _ => Expr::atom(kind.atom(flat)),
    }
}

/// An index of an argument that differs from another one by a constant and loses to it.
fn find_dominated(args: &[Expr], kind: Kind) -> Option<(usize, usize)> {
    for i in 0..args.len() {
        for j in i + 1..args.len() {
            if let Some(difference) = (&args[i] - &args[j]).as_int() {
                return Some(if kind.keeps_first(difference) {
                    (j, i)
                } else {
                    (i, j)
                });
            }
        }
    }
    None
}
