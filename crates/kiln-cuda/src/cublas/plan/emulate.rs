//! A host emulation of the cuBLAS calls of a [`GemmPlan`] (column-major, `op` N or T, leading
//! dimensions, strided batches, the loop of calls), checked against kiln's row-major
//! definition of the same [`GemmAt`]: the plan's arithmetic is tested without a GPU.
use super::*;

/// What `cublasGemmStridedBatchedEx` computes for every call of `plan` on host memory.
pub(super) fn run_plan(plan: &GemmPlan, bufs: [&[f64]; 2], c: &mut [f64], alpha: f64, beta: f64) {
    if plan.is_empty() {
        return;
    }
    let (first_buf, second_buf) = match plan.swapped {
        true => (bufs[1], bufs[0]),
        false => (bufs[0], bufs[1]),
    };
    let (sf, ss) = plan.operand_strides();
    // op(X)(r, c) of a column-major stored matrix with leading dimension ld.
    let at = |x: &[f64], base: usize, o: Operand, r: usize, col: usize| match o.trans {
        Trans::N => x[base + r + col * o.ld],
        Trans::T => x[base + col + r * o.ld],
    };
    for call in plan.calls().expect("offsets fit") {
        let (fo, so) = plan.operand_offsets(call);
        for bi in 0..plan.batch_count {
            let (fb, sb) = (fo + bi * sf, so + bi * ss);
            let cb = call[2] + bi * plan.batch_strides[2];
            for r in 0..plan.m {
                for col in 0..plan.n {
                    let acc: f64 = (0..plan.k)
                        .map(|l| {
                            at(first_buf, fb, plan.first, r, l)
                                * at(second_buf, sb, plan.second, l, col)
                        })
                        .sum();
                    let o = cb + r + col * plan.ldc;
                    c[o] = if beta == 0.0 {
                        alpha * acc
                    } else {
                        beta * c[o] + alpha * acc
                    };
                }
            }
        }
    }
}

/// kiln's definition: `c[b, i, j] = beta c + alpha sum_l a[b, i, l] b[b, l, j]`.
pub(super) fn reference(g: &GemmAt, a: &[f64], b: &[f64], c: &mut [f64], alpha: f64, beta: f64) {
    let batches: usize = g.batch.iter().product();
    for flat in 0..batches {
        let mut rest = flat;
        let mut idx = vec![0; g.batch.len()];
        for d in (0..g.batch.len()).rev() {
            idx[d] = rest % g.batch[d];
            rest /= g.batch[d];
        }
        let base = |m: &MatrixAt| {
            m.offset
                + idx
                    .iter()
                    .zip(&m.batch_strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>()
        };
        let (ab, bb, cb) = (base(&g.a), base(&g.b), base(&g.c));
        for i in 0..g.m {
            for j in 0..g.n {
                let acc: f64 = (0..g.k)
                    .map(|l| {
                        a[ab + i * g.a.row_stride + l * g.a.col_stride]
                            * b[bb + l * g.b.row_stride + j * g.b.col_stride]
                    })
                    .sum();
                let o = cb + i * g.c.row_stride + j * g.c.col_stride;
                c[o] = if beta == 0.0 {
                    alpha * acc
                } else {
                    beta * c[o] + alpha * acc
                };
            }
        }
    }
}

/// Elements a view reaches, plus one.
pub(super) fn extent(m: &MatrixAt, batch: &[usize], rows: usize, cols: usize) -> usize {
    crate::library::conv::reach(m, batch, rows, cols).expect("fits")
}

/// Runs both on the same pseudo-random buffers and compares every element of c.
pub(super) fn assert_plan_computes(g: &GemmAt) {
    let plan = plan_gemm(g).expect("plans");
    let fill = |n: usize, seed: usize| -> Vec<f64> {
        (0..n)
            .map(|i| (((i * 7 + seed * 13) % 17) as f64 - 8.0) / 4.0)
            .collect()
    };
    let a = fill(extent(&g.a, &g.batch, g.m, g.k), 1);
    let b = fill(extent(&g.b, &g.batch, g.k, g.n), 2);
    let c0 = fill(extent(&g.c, &g.batch, g.m, g.n), 3);
    for (alpha, beta) in [(1.0, 0.0), (-0.5, 0.25)] {
        let (mut want, mut got) = (c0.clone(), c0.clone());
        reference(g, &a, &b, &mut want, alpha, beta);
        run_plan(&plan, [&a, &b], &mut got, alpha, beta);
        assert_eq!(got, want, "alpha {alpha} beta {beta}: {plan:?}");
    }
}
