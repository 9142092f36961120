//! The cuBLAS calls for one [`GemmAt`]: a pure function of the proved launch sizes, so every
//! layout is unit-tested without a GPU.
//!
//! kiln's matrices are row-major views (`(i, j)` at `offset + i * row_stride + j * col_stride`);
//! cuBLAS is column-major (`(r, c)` at `r + c * ld`, `op = T` reading the stored matrix
//! transposed). A row-major `C = A B` is the column-major `C^T = B^T A^T`: with C's columns
//! contiguous (the usual case) cuBLAS's first operand is B and its second A ("swapped");
//! with C's rows contiguous it computes `C = A B` directly. Each operand then reads in place
//! when one of its strides is 1 and the other is a valid leading dimension; size-1 dims do not
//! constrain their stride. Batch dims merge where strides allow (`s[d] = s[d+1] * size[d+1]`
//! for all three operands, stride 0 broadcasting); the innermost merged dim becomes one
//! strided-batched call, any outer ones a loop of calls.
use kiln_sched::{GemmAt, MatrixAt};

/// `cublasOperation_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trans {
    N = 0,
    T = 1,
}

/// One operand of a cuBLAS call, in cuBLAS's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operand {
    pub trans: Trans,
    pub ld: usize,
}

/// An outer batch dim looped over: `count` calls, each advancing the three offsets by
/// `strides` (kiln's A, B, C order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLoop {
    pub count: usize,
    pub strides: [usize; 3],
}

/// Every cuBLAS call of a GEMM. `first`/`second` are cuBLAS's A and B: kiln's B and A when
/// `swapped`, else kiln's A and B. `m`, `n`, `k` are cuBLAS's (n, m, k of kiln when swapped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemmPlan {
    pub swapped: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub first: Operand,
    pub second: Operand,
    pub ldc: usize,
    /// Offsets of kiln's A, B, C at batch index 0, in elements.
    pub offsets: [usize; 3],
    /// The strided-batched dim: its count and kiln's A, B, C strides (1 and zeros when none).
    pub batch_count: usize,
    pub batch_strides: [usize; 3],
    /// Outer batch dims, outermost first; the calls are their cartesian product.
    pub loops: Vec<BatchLoop>,
}

/// One cuBLAS call: offsets of kiln's A, B, C.
pub type CallOffsets = [usize; 3];

impl GemmPlan {
    /// Whether the GEMM touches nothing (an empty output or batch).
    pub fn is_empty(&self) -> bool {
        self.m == 0
            || self.n == 0
            || self.batch_count == 0
            || self.loops.iter().any(|l| l.count == 0)
    }

    /// The offsets of every call, in order (checked: the launch proof bounds each of them).
    pub fn calls(&self) -> Option<Vec<CallOffsets>> {
        let mut calls = vec![self.offsets];
        for l in &self.loops {
            let mut next = Vec::with_capacity(calls.len().checked_mul(l.count)?);
            for base in &calls {
                for i in 0..l.count {
                    let mut o = *base;
                    for (x, s) in o.iter_mut().zip(l.strides) {
                        *x = x.checked_add(i.checked_mul(s)?)?;
                    }
                    next.push(o);
                }
            }
            calls = next;
        }
        Some(calls)
    }

    /// cuBLAS's first and second operand offsets of one call.
    pub fn operand_offsets(&self, call: CallOffsets) -> (usize, usize) {
        match self.swapped {
            true => (call[1], call[0]),
            false => (call[0], call[1]),
        }
    }

    /// cuBLAS's strides of the first and second operands over the strided-batched dim.
    pub fn operand_strides(&self) -> (usize, usize) {
        let [a, b, _] = self.batch_strides;
        if self.swapped { (b, a) } else { (a, b) }
    }
}

/// A column-major `rows x cols` view, `(r, c)` at `r * sr + c * sc`, as a cuBLAS operand.
fn operand(rows: usize, cols: usize, sr: usize, sc: usize) -> Option<Operand> {
    let as_n = (sr == 1 || rows <= 1).then(|| if cols <= 1 { rows.max(1) } else { sc });
    if let Some(ld) = as_n.filter(|&ld| ld >= rows.max(1)) {
        return Some(Operand {
            trans: Trans::N,
            ld,
        });
    }
    // Transposed: the stored matrix is cols x rows.
    let as_t = (sc == 1 || cols <= 1).then(|| if rows <= 1 { cols.max(1) } else { sr });
    as_t.filter(|&ld| ld >= cols.max(1)).map(|ld| Operand {
        trans: Trans::T,
        ld,
    })
}

/// The plan, or why cuBLAS cannot read or write these layouts in place.
pub fn plan_gemm(g: &GemmAt) -> Result<GemmPlan, String> {
    let (a, b, c) = (&g.a, &g.b, &g.c);
    // Operands never read (k = 0) or never written (an empty C) constrain nothing.
    let empty = g.m == 0 || g.n == 0;
    let view = |rows: usize, cols: usize, sr: usize, sc: usize, used: bool| match used {
        true => operand(rows, cols, sr, sc),
        false => Some(Operand {
            trans: Trans::N,
            ld: rows.max(1),
        }),
    };
    let read = g.k > 0 && !empty;
    // Swapped: C^T (n x m) = B^T (n x k) A^T (k x m), each as a column-major view.
    let swapped = (|| {
        let out = view(g.n, g.m, c.col_stride, c.row_stride, !empty)?;
        let first = view(g.n, g.k, b.col_stride, b.row_stride, read)?;
        let second = view(g.k, g.m, a.col_stride, a.row_stride, read)?;
        Some((out, first, second))
    })();
    let direct = || {
        let out = view(g.m, g.n, c.row_stride, c.col_stride, !empty)?;
        let first = view(g.m, g.k, a.row_stride, a.col_stride, read)?;
        let second = view(g.k, g.n, b.row_stride, b.col_stride, read)?;
        Some((out, first, second))
    };
    let (is_swapped, (out, first, second)) = match swapped.filter(|s| s.0.trans == Trans::N) {
        Some(s) => (true, s),
        None => match direct().filter(|d| d.0.trans == Trans::N) {
            Some(d) => (false, d),
            None => return Err(unsupported(g)),
        },
    };
    let (m, n) = if is_swapped { (g.n, g.m) } else { (g.m, g.n) };
    let (batch_count, batch_strides, loops) = batches(g)?;
    Ok(GemmPlan {
        swapped: is_swapped,
        m,
        n,
        k: g.k,
        first,
        second,
        ldc: out.ld,
        offsets: [a.offset, b.offset, c.offset],
        batch_count,
        batch_strides,
        loops,
    })
}

fn unsupported(g: &GemmAt) -> String {
    let show = |x: &MatrixAt| format!("(row stride {}, col stride {})", x.row_stride, x.col_stride);
    format!(
        "cuBLAS cannot read these layouts in place: a {}, b {}, c {} for m={} n={} k={}",
        show(&g.a),
        show(&g.b),
        show(&g.c),
        g.m,
        g.n,
        g.k
    )
}

/// The batch dims merged: the strided-batched dim and the loops outside it.
fn batches(g: &GemmAt) -> Result<(usize, [usize; 3], Vec<BatchLoop>), String> {
    let mut dims: Vec<BatchLoop> = Vec::new();
    for (d, &count) in g.batch.iter().enumerate() {
        let strides = [
            g.a.batch_strides[d],
            g.b.batch_strides[d],
            g.c.batch_strides[d],
        ];
        if count == 1 {
            continue;
        }
        if count > 1 && strides[2] == 0 && g.m > 0 && g.n > 0 {
            return Err(format!(
                "c's batch dim {d} has stride 0 over {count} batches: the results would overlap"
            ));
        }
        dims.push(BatchLoop { count, strides });
    }
    // A dim merges into the one outside it when the outer stride is this dim's span.
    let mut merged: Vec<BatchLoop> = Vec::new();
    for dim in dims {
        match merged.last_mut() {
            Some(outer)
                if (0..3)
                    .all(|i| dim.strides[i].checked_mul(dim.count) == Some(outer.strides[i])) =>
            {
                outer.count = outer
                    .count
                    .checked_mul(dim.count)
                    .ok_or("the batch count overflows")?;
                outer.strides = dim.strides;
            }
            _ => merged.push(dim),
        }
    }
    Ok(match merged.pop() {
        Some(inner) => (inner.count, inner.strides, merged),
        None => (1, [0, 0, 0], merged),
    })
}

#[cfg(test)]
mod tests;

/// `c = a @ b` through the emulated cuBLAS calls of `plan` (alpha 1, beta 0), for the
/// convolution plan's tests.
#[cfg(test)]
pub(crate) fn emulate_for_tests(plan: &GemmPlan, bufs: [&[f64]; 2], c: &mut [f64]) {
    tests::emulate_run(plan, bufs, c)
}
