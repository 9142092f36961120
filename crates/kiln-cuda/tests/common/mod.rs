//! Graphs covering every op and dtype, scheduled to kernel IR, shared by the NVRTC and GPU
//! tests; and deterministic inputs with special values for differential runs.
#![allow(dead_code)] // Each test crate uses a different subset.

use kiln_ir::{DType, Graph, Tensor};
use kiln_sched::{Program, SchedOptions, schedule};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

/// One test graph: its `.kiln` source and the concrete input shapes to specialise it for.
pub struct Case {
    pub name: String,
    pub src: String,
    pub shapes: Vec<Vec<i64>>,
}

fn case(name: String, src: String, shapes: &[&[i64]]) -> Case {
    Case {
        name,
        src,
        shapes: shapes.iter().map(|s| s.to_vec()).collect(),
    }
}

pub const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

/// Every op, for every float dtype (and bool where it applies).
pub fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for d in FLOATS {
        let n = d.name();
        for op in kiln_ir::UnaryOp::ALL {
            let call = match op {
                kiln_ir::UnaryOp::GeluTanh => "gelu(x, approximate=\"tanh\")".to_string(),
                _ => format!("{}(x)", op.name()),
            };
            let src = format!("graph u\ninput x: {n}[N, 5]\ny = {call}\noutput y\n");
            cases.push(case(format!("{}_{n}", op.name()), src, &[&[3, 5]]));
        }
        for op in kiln_ir::BinaryOp::ALL {
            let src = format!(
                "graph b\ninput x: {n}[N, 5]\ninput z: {n}[5]\ny = {}(x, z)\nw = {}(x, 1.5)\noutput y, w\n",
                op.name(),
                op.name()
            );
            cases.push(case(format!("{}_{n}", op.name()), src, &[&[4, 5], &[5]]));
        }
        let src = format!(
            "graph w\ninput c: bool[N, 5]\ninput x: {n}[N, 5]\ninput z: {n}[5]\ny = where(c, x, z)\noutput y\n"
        );
        cases.push(case(format!("where_{n}"), src, &[&[3, 5], &[3, 5], &[5]]));
        for to in DType::ALL {
            let src = format!(
                "graph c\ninput x: {n}[N, 6]\ny = to(x, {})\noutput y\n",
                to.name()
            );
            cases.push(case(format!("cast_{n}_to_{}", to.name()), src, &[&[2, 6]]));
        }
        for red in ["sum", "mean", "amax", "amin"] {
            let src = format!(
                "graph r\ninput x: {n}[N, C, 7]\na = {red}(x, [1])\nb = {red}(x, [0, 2], keepdim=true)\nc = {red}(x)\noutput a, b, c\n"
            );
            cases.push(case(format!("{red}_{n}"), src, &[&[3, 4, 7]]));
        }
        let src = format!(
            "graph s\ninput x: {n}[N, C]\na = softmax(x, 1)\nb = softmax(x, 0)\noutput a, b\n"
        );
        cases.push(case(format!("softmax_{n}"), src, &[&[3, 37]]));
        for (i, pool) in [
            "max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)",
            "max_pool2d(x, [3, 2], None, 1, [2, 1], true)",
            "max_pool2d(x, 2)",
            "avg_pool2d(x, [3, 3], [1, 2], [1, 0], true, false)",
            "avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=true)",
            "avg_pool2d(x, 2)",
            "adaptive_avg_pool2d(x, [5, 7])",
            "adaptive_max_pool2d(x, [3, 4])",
        ]
        .iter()
        .enumerate()
        {
            let src = format!("graph p\ninput x: {n}[N, C, 11, 13]\ny = {pool}\noutput y\n");
            cases.push(case(format!("pool{i}_{n}"), src, &[&[2, 3, 11, 13]]));
        }
        let src = format!(
            "graph l\ninput x: {n}[N, C, 6]\n\
             a = reshape(x, [N, -1, 3])\n\
             b = permute(x, [2, 0, 1])\n\
             c = transpose(x, 0, 2)\n\
             d = unsqueeze(x, 1)\n\
             e = squeeze(d, 1)\n\
             x0 = unsqueeze(x, 0)\n\
             f = expand(x0, [2, N, C, 6])\n\
             xt = transpose(x, 1, 2)\n\
             xa = add(xt, 1.0)\n\
             g = relu(xa)\n\
             output a, b, c, e, f, g\n"
        );
        cases.push(case(format!("layout_{n}"), src, &[&[2, 4, 6]]));
        let src = format!(
            "graph f\ninput x: {n}[N, C]\ninput z: {n}[C]\n\
             t = mul(x, z)\nt2 = relu(t)\ns = sigmoid(t2)\ns2 = mul(s, 2.0)\nm = sub(s2, 1.0)\n\
             r = sum(m, [1])\nr1 = unsqueeze(r, 1)\nq = div(m, r1)\noutput q, r\n"
        );
        cases.push(case(format!("fused_{n}"), src, &[&[5, 9], &[9]]));
    }
    let src = "graph bl\ninput a: bool[N, 4]\ninput b: bool[N, 4]\n\
               n = logical_not(a)\no = logical_or(n, b)\np = logical_and(a, b)\nq = eq(a, b)\n\
               m = amax(a, [1])\noutput o, p, q, m\n";
    cases.push(case("bool_logic".into(), src.into(), &[&[3, 4], &[3, 4]]));
    let src = "graph ints\ninput x: i64[N, 4]\ninput y: i64[N, 4]\ninput f: f32[N, 4]\n\
               a = add(x, y)\nb = mul(a, x)\nc = abs(b)\nd = div(x, y)\ne = add(x, f)\n\
               g = exp(x)\nh = lt(x, y)\ns = sum(x, [1])\nm = amax(x, [1])\nt = to(f, i64)\n\
               output c, d, e, g, h, s, m, t\n";
    cases.push(case(
        "i64_ops".into(),
        src.into(),
        &[&[3, 4], &[3, 4], &[3, 4]],
    ));
    for d in ["f32", "f64", "i64"] {
        let src = format!(
            "graph am\ninput x: {d}[N, C, 6]\na = argmax(x)\nb = argmin(x, 1)\n\
             v, i = max(x, 2, keepdim=true)\nw, j = min(x, 0)\ns = cumsum(x, 1)\n\
             output a, b, v, i, w, j, s\n"
        );
        cases.push(case(format!("argmax_{d}"), src, &[&[3, 4, 6]]));
    }
    cases
}

/// Which case names this filter keeps (KILN_CUDA_CASES=substring, for debugging one case).
pub fn selected(c: &Case) -> bool {
    std::env::var("KILN_CUDA_CASES").map_or(true, |f| c.name.contains(&f))
}

/// Parses, specialises (dynamic symbols) and schedules a case.
pub fn schedule_case(c: &Case, opts: &SchedOptions) -> Result<(Graph, Program), String> {
    let g = kiln_ir::parse(&c.src).map_err(|e| format!("parse: {e}"))?;
    let decls = g.input_dims();
    let bindings = bind_symbols(&decls, &c.shapes).map_err(|e| format!("bind: {e}"))?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &decls, &bindings, &Policy::Dynamic)
        .map_err(|e| format!("specialize: {e}"))?;
    let program = schedule(&g, &mut env, &inputs, opts).map_err(|e| format!("schedule: {e}"))?;
    Ok((g, program))
}

/// Options that force 64-bit index arithmetic on every kernel (the limit is below any size).
pub fn wide_index() -> SchedOptions {
    SchedOptions { index_limit: 1 }
}

/// Deterministic inputs: a spread of values with zeros, a NaN and infinities mixed in.
pub fn inputs_for(g: &Graph, shapes: &[Vec<i64>]) -> Vec<Tensor> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    g.inputs()
        .iter()
        .zip(shapes)
        .map(|(decl, shape)| {
            let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            let n: usize = shape.iter().product();
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
                    match (i % 23, decl.dtype) {
                        (_, DType::Bool) => (u < 0.5) as u8 as f64,
                        (7, _) => 0.0,
                        (13, _) => f64::NAN,
                        (19, _) => f64::INFINITY,
                        (21, _) => f64::NEG_INFINITY,
                        _ => (u - 0.5) * 6.0,
                    }
                })
                .collect();
            Tensor::from_f64(decl.dtype, &shape, &values)
        })
        .collect()
}

/// The tolerance for comparing a backend against the interpreter in `dtype`.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::Bool | DType::I64 => 0.0,
        DType::F64 => 1e-9,
        DType::F32 => 1e-4,
        DType::F16 => 4e-3,
        DType::BF16 => 3e-2,
    }
}

/// Equal within `rel` relative (absolute near zero); NaN matches NaN; infinities exactly.
pub fn close(got: &[f64], want: &[f64], rel: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("length {} vs {}", got.len(), want.len()));
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= rel * w.abs().max(1.0)
        };
        if !ok {
            return Err(format!("element {i}: got {g}, want {w}"));
        }
    }
    Ok(())
}

/// Which kernel shape a [`LargeCase`] must take under the default launch rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// At least one kernel runs as a block-per-output reduction.
    Block,
    /// At least one kernel runs with 16-byte vector accesses.
    Vector,
    /// Every kernel runs one thread per point.
    PointOnly,
}

/// A case sized to exercise the specialised kernel shapes (bounded: at most 1M elements).
pub struct LargeCase {
    pub case: Case,
    pub expect: Expect,
}

fn large(name: String, src: String, shapes: &[&[i64]], expect: Expect) -> LargeCase {
    LargeCase {
        case: case(name, src, shapes),
        expect,
    }
}

/// Long row and column reductions, full reductions over 1M elements, and elementwise kernels
/// whose row length does or does not allow the vector shape.
pub fn large_cases() -> Vec<LargeCase> {
    let mut cases = Vec::new();
    for d in FLOATS {
        let n = d.name();
        // Row sums stay below f16's largest finite value (65504), so they are compared as
        // numbers rather than as two infinities.
        let row: i64 = if d == DType::F16 { 30_000 } else { 100_000 };
        let src = format!(
            "graph rows\ninput x: {n}[N, C]\na = sum(x, [1])\nb = amax(x, [1])\n\
             c = mean(x, [1], keepdim=true)\ne = amin(x, [1])\noutput a, b, c, e\n"
        );
        cases.push(large(format!("rows_{n}"), src, &[&[8, row]], Expect::Block));
        let src = format!("graph rsm\ninput x: {n}[N, C]\ny = softmax(x, 1)\noutput y\n");
        cases.push(large(
            format!("row_softmax_{n}"),
            src,
            &[&[8, row]],
            Expect::Block,
        ));
        let full = if d == DType::F16 || d == DType::BF16 {
            "a = mean(x)\nb = amax(x)" // a sum of 1M values of mean 1 overflows f16
        } else {
            "a = sum(x)\nb = amin(x)"
        };
        let src = format!("graph all\ninput x: {n}[N, C]\n{full}\noutput a, b\n");
        cases.push(large(
            format!("full_{n}"),
            src,
            &[&[1000, 1000]],
            Expect::Block,
        ));
        let src = format!(
            "graph ew\ninput x: {n}[N, C]\ninput z: {n}[C]\nt = mul(x, z)\nu = add(t, 1.5)\n\
             y = relu(u)\noutput y, t\n"
        );
        cases.push(large(
            format!("ew_vector_{n}"),
            src.clone(),
            &[&[64, 1024], &[1024]],
            Expect::Vector,
        ));
        // 1023 is a multiple of no lane count: the same program runs one thread per point.
        cases.push(large(
            format!("ew_scalar_{n}"),
            src,
            &[&[64, 1023], &[1023]],
            Expect::PointOnly,
        ));
    }
    let src = "graph cols\ninput x: f32[N, C]\na = sum(x, [0])\nb = softmax(x, 0)\noutput a, b\n";
    cases.push(large(
        "cols_f32".into(),
        src.into(),
        &[&[100_000, 8]],
        Expect::Block,
    ));
    // Different element sizes: no vector shape exists.
    let src = "graph cast\ninput x: f32[N, C]\ny = to(x, f16)\noutput y\n";
    cases.push(large(
        "cast_f32_to_f16".into(),
        src.into(),
        &[&[64, 1024]],
        Expect::PointOnly,
    ));
    cases
}

/// Inputs for [`large_cases`]: values in [-1, 3) (mean 1, so sums are far from zero and a
/// relative tolerance is meaningful for f32 accumulation), plus one NaN in row 3 and one +inf
/// in row 5 of every input with at least 6 rows, so that long reductions propagate them.
pub fn large_inputs_for(g: &Graph, shapes: &[Vec<i64>]) -> Vec<Tensor> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    g.inputs()
        .iter()
        .zip(shapes)
        .map(|(decl, shape)| {
            let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            let n: usize = shape.iter().product();
            let mut values: Vec<f64> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
                    u * 4.0 - 1.0
                })
                .collect();
            if let [rows, cols] = shape[..]
                && (6..=64).contains(&rows)
            {
                values[3 * cols + cols / 2] = f64::NAN;
                values[5 * cols + cols / 3] = f64::INFINITY;
            }
            Tensor::from_f64(decl.dtype, &shape, &values)
        })
        .collect()
}
