//! Programs made of library steps, built by hand (the ops that lower to them land on other
//! branches), with a plain f64 reference of each: the GEMM layouts the lowering produces
//! (plain, `linear`'s transposed weight, a transposed A, broadcast and non-uniform batches,
//! alpha, two GEMMs accumulating through beta, k = 0) and convolutions (1-d and 2-d, padding,
//! stride, dilation, groups, depthwise, 1x1, no input channels). Tensors are flat: every
//! stride is in the call.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use kiln_ir::{DType, Tensor};
use kiln_sched::{BufKind, BufferDecl, Gemm, LibraryCall, MatrixRef, Program, Step, TensorSpec};
use kiln_shape::Expr;

mod conv;
pub use conv::*;

/// A matrix operand: its buffer's element count and view.
#[derive(Debug, Clone)]
pub struct View {
    pub numel: usize,
    pub offset: usize,
    pub batch_strides: Vec<usize>,
    pub row_stride: usize,
    pub col_stride: usize,
}

fn view(numel: usize, offset: usize, bs: &[usize], rs: usize, cs: usize) -> View {
    View {
        numel,
        offset,
        batch_strides: bs.to_vec(),
        row_stride: rs,
        col_stride: cs,
    }
}

#[derive(Debug, Clone)]
pub struct GemmCase {
    pub name: String,
    pub batch: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: View,
    pub b: View,
    pub alpha: f64,
}

fn contiguous_strides(batch: &[usize], inner: usize) -> Vec<usize> {
    let mut strides = vec![0; batch.len()];
    let mut s = inner;
    for (d, &size) in batch.iter().enumerate().rev() {
        strides[d] = s;
        s *= size;
    }
    strides
}

/// The layouts of the lowering, at small odd sizes.
pub fn gemm_cases() -> Vec<GemmCase> {
    let (m, n, k) = (5, 7, 6);
    let g = |name: &str, batch: &[usize], k: usize, a: View, b: View, alpha: f64| GemmCase {
        name: name.to_string(),
        batch: batch.to_vec(),
        m,
        n,
        k,
        a,
        b,
        alpha,
    };
    vec![
        g(
            "plain",
            &[],
            k,
            view(m * k, 0, &[], k, 1),
            view(k * n, 0, &[], n, 1),
            1.0,
        ),
        // linear: x @ w^T with w [n, k] read in place; an offset into a larger a.
        g(
            "linear",
            &[],
            k,
            view(m * k + 3, 3, &[], k, 1),
            view(n * k, 0, &[], 1, k),
            1.0,
        ),
        g(
            "transposed_a",
            &[],
            k,
            view(k * m, 0, &[], 1, m),
            view(k * n, 0, &[], n, 1),
            -0.5,
        ),
        g(
            "batched",
            &[2, 3],
            k,
            view(6 * m * k, 0, &contiguous_strides(&[2, 3], m * k), k, 1),
            view(6 * k * n, 0, &contiguous_strides(&[2, 3], k * n), n, 1),
            1.0,
        ),
        g(
            "broadcast_b",
            &[4],
            k,
            view(4 * m * k, 0, &[m * k], k, 1),
            view(k * n, 0, &[0], n, 1),
            2.0,
        ),
        // a [2, 1, m, k] against b [2, 3, k, n]: a loop over the outer dim.
        g(
            "non_uniform_batch",
            &[2, 3],
            k,
            view(2 * m * k, 0, &[m * k, 0], k, 1),
            view(6 * k * n, 0, &contiguous_strides(&[2, 3], k * n), n, 1),
            1.0,
        ),
        g(
            "k0",
            &[2],
            0,
            view(0, 0, &[0], 0, 1),
            view(0, 0, &[0], n, 1),
            1.0,
        ),
    ]
}

fn mref(buf: u32, v: &View) -> MatrixRef {
    let e = |x: usize| Expr::int(x as i64);
    MatrixRef {
        buf,
        offset: e(v.offset),
        batch_strides: v.batch_strides.iter().map(|&s| e(s)).collect(),
        row_stride: e(v.row_stride),
        col_stride: e(v.col_stride),
    }
}

pub(crate) fn flat(name: &str, dtype: DType, numel: usize) -> TensorSpec {
    TensorSpec {
        name: name.to_string(),
        dtype,
        shape: vec![Expr::int(numel as i64)],
    }
}

pub(crate) fn decl(dtype: DType, numel: usize, kind: BufKind) -> BufferDecl {
    BufferDecl {
        dtype,
        numel: Expr::int(numel as i64),
        kind,
    }
}

fn c_view(c: &GemmCase) -> View {
    let numel = c.batch.iter().product::<usize>() * c.m * c.n;
    view(numel, 0, &contiguous_strides(&c.batch, c.m * c.n), c.n, 1)
}

fn gemm_call(c: &GemmCase, dtype: DType, bufs: [u32; 3], beta: f64, name: &str) -> LibraryCall {
    let e = |x: usize| Expr::int(x as i64);
    LibraryCall::Gemm(Box::new(Gemm {
        name: name.to_string(),
        dtype,
        batch: c.batch.iter().map(|&d| e(d)).collect(),
        m: e(c.m),
        n: e(c.n),
        k: e(c.k),
        a: mref(bufs[0], &c.a),
        b: mref(bufs[1], &c.b),
        c: mref(bufs[2], &c_view(c)),
        alpha: c.alpha,
        beta,
    }))
}

/// `out = c.alpha * a @ b` as a one-step program with inputs a, b.
pub fn gemm_program(c: &GemmCase, dtype: DType) -> Program {
    let out = c_view(c).numel;
    Program {
        graph_name: format!("gemm_{}", c.name),
        symbols: Vec::new(),
        inputs: vec![flat("a", dtype, c.a.numel), flat("b", dtype, c.b.numel)],
        outputs: vec![(flat("out", dtype, out), 2)],
        buffers: vec![
            decl(dtype, c.a.numel, BufKind::Input(0)),
            decl(dtype, c.b.numel, BufKind::Input(1)),
            decl(dtype, out, BufKind::Output(0)),
        ],
        kernels: Vec::new(),
        steps: vec![Step::Library(Box::new(gemm_call(
            c,
            dtype,
            [0, 1, 2],
            0.0,
            "mm",
        )))],
    }
}

/// Two GEMMs into one output: `out = alpha a @ b`, then `out = 0.5 out + alpha a @ b` with the
/// operands swapped in role (beta's path through cuBLAS).
pub fn accumulate_program(c: &GemmCase, dtype: DType) -> Program {
    let mut p = gemm_program(c, dtype);
    p.graph_name = format!("gemm_acc_{}", c.name);
    p.steps.push(Step::Library(Box::new(gemm_call(
        c,
        dtype,
        [0, 1, 2],
        0.5,
        "mm_acc",
    ))));
    p
}

/// The f64 reference of [`gemm_program`] (`beta_steps` more GEMMs accumulated with beta 0.5).
pub fn gemm_reference(c: &GemmCase, a: &[f64], b: &[f64], beta_steps: usize) -> Vec<f64> {
    let cv = c_view(c);
    let mut out = vec![0.0; cv.numel];
    let batches: usize = c.batch.iter().product();
    for step in 0..=beta_steps {
        let beta = if step == 0 { 0.0 } else { 0.5 };
        for flat_b in 0..batches {
            let mut idx = vec![0; c.batch.len()];
            let mut r = flat_b;
            for d in (0..c.batch.len()).rev() {
                idx[d] = r % c.batch[d];
                r /= c.batch[d];
            }
            let base = |v: &View| {
                v.offset
                    + idx
                        .iter()
                        .zip(&v.batch_strides)
                        .map(|(i, s)| i * s)
                        .sum::<usize>()
            };
            let (ab, bb, cb) = (base(&c.a), base(&c.b), base(&cv));
            for i in 0..c.m {
                for j in 0..c.n {
                    let mut acc = 0.0;
                    for l in 0..c.k {
                        acc += a[ab + i * c.a.row_stride + l * c.a.col_stride]
                            * b[bb + l * c.b.row_stride + j * c.b.col_stride];
                    }
                    let o = cb + i * cv.row_stride + j;
                    out[o] = beta * out[o] + c.alpha * acc;
                }
            }
        }
    }
    out
}

/// Deterministic values in [-1, 1), rounded to `dtype`.
pub fn values(dtype: DType, numel: usize, seed: u64) -> Tensor {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..numel)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f64(dtype, &[numel], &v)
}

/// Relative tolerance of a dtype's GEMM/conv result, against the sum of |products|.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-5,
        DType::F16 => 4e-3,
        _ => 3e-2,
    }
}

/// Fails naming the first element whose error exceeds `tol * (1 + |want|)`.
pub fn check_close(name: &str, got: &[f64], want: &[f64], tol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{name}: {} elements, want {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = 1.0 + w.abs();
        // Written so that a NaN fails.
        let close = (g - w).abs() <= tol * scale;
        if !close {
            return Err(format!("{name}: element {i} is {g}, want {w}"));
        }
    }
    Ok(())
}

/// `out[N, m, n] = a[N, m, k] @ w[n, k]^T` with the batch a symbol: one artifact for every N.
pub fn dynamic_linear_program(dtype: DType, m: usize, n: usize, k: usize) -> Program {
    let big_n = Expr::sym("N");
    let e = |x: usize| Expr::int(x as i64);
    let spec = |name: &str, dims: &[Expr]| TensorSpec {
        name: name.to_string(),
        dtype,
        shape: dims.to_vec(),
    };
    let numel = |x: usize| &big_n * &e(x);
    let call = LibraryCall::Gemm(Box::new(Gemm {
        name: "linear".into(),
        dtype,
        batch: vec![big_n.clone()],
        m: e(m),
        n: e(n),
        k: e(k),
        a: MatrixRef {
            buf: 0,
            offset: e(0),
            batch_strides: vec![e(m * k)],
            row_stride: e(k),
            col_stride: e(1),
        },
        b: MatrixRef {
            buf: 1,
            offset: e(0),
            batch_strides: vec![e(0)],
            row_stride: e(1),
            col_stride: e(k),
        },
        c: MatrixRef {
            buf: 2,
            offset: e(0),
            batch_strides: vec![e(m * n)],
            row_stride: e(n),
            col_stride: e(1),
        },
        alpha: 1.0,
        beta: 0.0,
    }));
    Program {
        graph_name: "dynamic_linear".into(),
        symbols: vec!["N".into()],
        inputs: vec![
            spec("x", &[big_n.clone(), e(m), e(k)]),
            spec("w", &[e(n), e(k)]),
        ],
        outputs: vec![(spec("out", &[big_n.clone(), e(m), e(n)]), 2)],
        buffers: vec![
            BufferDecl {
                dtype,
                numel: numel(m * k),
                kind: BufKind::Input(0),
            },
            decl(dtype, n * k, BufKind::Input(1)),
            BufferDecl {
                dtype,
                numel: numel(m * n),
                kind: BufKind::Output(0),
            },
        ],
        kernels: Vec::new(),
        steps: vec![Step::Library(Box::new(call))],
    }
}
