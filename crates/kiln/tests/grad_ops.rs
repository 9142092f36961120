//! The gradient family (`sum_to`, `expand_as`, `reshape_as`, `slice_scatter`) through the
//! compiled function (CPU backend) against the reference interpreter: f32 and f64, static and
//! dynamic, each graph on two shapes; where the two shapes differ only in symbol values that
//! stay symbolic, one dynamic entry serves both.
mod cache_support;

use cache_support::{assert_matches_reference, compiler, data, graph};
use kiln::{DType, DynamicPolicy, Tensor};

struct Case {
    src: &'static str,
    /// Two calls, each the shapes of every input in declaration order.
    shapes: [&'static [&'static [usize]]; 2],
    /// Whether one dynamic entry serves both calls (false where a size is 1 in one call only,
    /// which the dynamic policy specialises).
    one_entry: bool,
}

const CASES: &[Case] = &[
    // sum_to of a broadcast (leading) dim, fused with its producer and epilogue.
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput b: DT[C]\ny = add(x, b)\ne = exp(y)\n\
              s = sum_to(e, b)\nt = mul(s, 0.5)\noutput t\n",
        shapes: [&[&[5, 3], &[3]], &[&[7, 3], &[3]]],
        one_entry: true,
    },
    // Leading and size-1 dims of the target summed at once.
    Case {
        src: "graph g\ninput x: DT[N, C, H]\ninput m: DT[C, 1]\nr = relu(x)\n\
              s = sum_to(r, m)\noutput s\n",
        shapes: [&[&[2, 3, 4], &[3, 1]], &[&[3, 3, 5], &[3, 1]]],
        one_entry: true,
    },
    // A symbolic dim of the target that is 1 in one call (summed) and N in the other (kept).
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput l: DT[M, C]\nq = mul(x, x)\n\
              s = sum_to(q, l)\noutput s\n",
        shapes: [&[&[4, 3], &[1, 3]], &[&[4, 3], &[4, 3]]],
        one_entry: false,
    },
    // The symbolic batch summed away while the target's 1 stays: [N, C] -> [1, C].
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput l: DT[1, C]\ns = sum_to(x, l)\n\
              u = add(s, l)\noutput u\n",
        shapes: [&[&[3, 2], &[1, 2]], &[&[6, 2], &[1, 2]]],
        one_entry: true,
    },
    // expand_as and reshape_as, whose like operand (h) is never computed.
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput b: DT[C]\nh = exp(x)\ny = expand_as(b, h)\n\
              t = transpose(x, 0, 1)\nr = reshape_as(t, h)\nz = add(y, r)\noutput z\n",
        shapes: [&[&[4, 3], &[3]], &[&[5, 3], &[3]]],
        one_entry: true,
    },
    // slice_scatter with a step, producers of both operands fused, a consumer after it.
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput s: DT[N, 2]\nr = relu(x)\ne = exp(s)\n\
              y = slice_scatter(r, e, dim=1, start=1, end=5, step=2)\nz = mul(y, 2.0)\noutput z\n",
        shapes: [&[&[3, 6], &[3, 2]], &[&[4, 6], &[4, 2]]],
        one_entry: true,
    },
    // Along the symbolic dim, from a negative start to the end.
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput s: DT[2, C]\n\
              y = slice_scatter(x, s, start=-2)\noutput y\n",
        shapes: [&[&[3, 4], &[2, 4]], &[&[5, 4], &[2, 4]]],
        one_entry: true,
    },
    // The narrow and chunk-part forms (the adjoints of narrow and chunk).
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput s: DT[N, 2]\ninput t: DT[N, 2]\n\
              y = slice_scatter(x, s, dim=1, start=-3, length=2)\n\
              z = slice_scatter(y, t, dim=1, chunks=3, index=2, count=3)\noutput z\n",
        shapes: [&[&[2, 6], &[2, 2], &[2, 2]], &[&[3, 6], &[3, 2], &[3, 2]]],
        one_entry: true,
    },
    // cat_part (the adjoint of cat): block 1 of x cut as cat([a, b], dim=1), a symbolic
    // offset P; the parts are read for their shapes only.
    Case {
        src: "graph g\ninput x: DT[N, C]\ninput a: DT[N, P]\ninput b: DT[N, Q]\ne = exp(x)\n\
              c = cat_part(e, [a, b], dim=1, index=1)\noutput c\n",
        shapes: [&[&[2, 5], &[2, 2], &[2, 3]], &[&[3, 7], &[3, 3], &[3, 4]]],
        one_entry: true,
    },
];

fn inputs(dtype: DType, shapes: &[&[usize]], seed: u64) -> Vec<Tensor> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| data(dtype, s, seed + i as u64))
        .collect()
}

#[test]
fn every_gradient_family_graph_matches_the_interpreter() {
    for case in CASES {
        for dtype in [DType::F32, DType::F64] {
            for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
                let g = graph(case.src, dtype);
                let dir = tempfile::tempdir().expect("tempdir");
                let c = compiler(dir.path(), policy);
                let f = c.compile(&g).expect("compiles");
                for (k, shapes) in case.shapes.iter().enumerate() {
                    let ins = inputs(dtype, shapes, 11 + 7 * k as u64);
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let got = f
                        .run(&refs)
                        .unwrap_or_else(|e| panic!("{} {dtype} {policy:?}: {e}", case.src));
                    assert_matches_reference(&g, &refs, &got);
                }
                if policy == DynamicPolicy::Dynamic && case.one_entry {
                    assert_eq!(c.counters().miss, 1, "{}: one dynamic entry", case.src);
                }
            }
        }
    }
}

#[test]
fn a_call_whose_shapes_do_not_sum_to_the_target_is_a_typed_error() {
    let g = graph(
        "graph g\ninput x: DT[N, C]\ninput l: DT[N, D]\ns = sum_to(x, l)\noutput s\n",
        DType::F32,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path(), DynamicPolicy::Dynamic)
        .compile(&g)
        .expect("compiles");
    let (x, l) = (data(DType::F32, &[4, 3], 1), data(DType::F32, &[4, 2], 2));
    let err = f.run(&[&x, &l]).expect_err("3 does not sum to 2");
    let msg = err.to_string();
    assert!(msg.contains("neither 1 nor"), "{msg}");
}
