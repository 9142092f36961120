//! The matmul family end to end: compiled through `kiln::Compiler` on the CPU backend (GEMM
//! library steps) against the reference interpreter, over random shapes (1-D, 2-D, batched,
//! broadcast batch dims, size-1 and empty dims, transposed weights) in every float dtype,
//! under the static and dynamic policies; one dynamic entry serving several batch sizes.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};
use proptest::prelude::*;

/// A graph with inputs `a` and `b` (and `bias` when `bias` is given) and one output `y`.
fn graph_text(
    dtype: DType,
    a: &[usize],
    b: &[usize],
    body: &str,
    bias: Option<&[usize]>,
) -> String {
    let list = |shape: &[usize]| {
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "graph mm\ninput a: {dtype}[{}]\ninput b: {dtype}[{}]\n",
        list(a),
        list(b)
    );
    if let Some(s) = bias {
        text.push_str(&format!("input bias: {dtype}[{}]\n", list(s)));
    }
    text.push_str(body);
    text.push_str("\noutput y\n");
    text
}

/// Small integers: every product and sum below is exact in every dtype (|sum| <= 9 * 7 < 256,
/// bf16's exact-integer range), so compiled and interpreted results must be equal.
fn ints(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let vals: Vec<f64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 7) as f64 - 3.0
        })
        .collect();
    Tensor::from_f64(dtype, shape, &vals)
}

fn compile_run(
    text: &str,
    policy: DynamicPolicy,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, String> {
    let g = kiln::parse(text).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = CompileOptions::default()
        .dynamic(policy)
        .cache_dir(dir.path());
    let f = Compiler::new(opts).compile(&g).map_err(|e| e.to_string())?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    f.run(&refs).map_err(|e| e.to_string())
}

fn check_exact(text: &str, inputs: &[Tensor]) -> Result<(), TestCaseError> {
    let g = kiln::parse(text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let want = kiln_ir::interpret(&g, inputs)
        .map_err(|e| TestCaseError::fail(format!("interpreter: {e}\n{text}")))?;
    for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
        let got = compile_run(text, policy, inputs)
            .map_err(|e| TestCaseError::fail(format!("{policy:?}: {e}\n{text}")))?;
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.dtype, w.dtype);
            prop_assert_eq!(&g.shape, &w.shape, "{:?}\n{}", policy, text);
            prop_assert_eq!(g.to_f64(), w.to_f64(), "{:?}\n{}", policy, text);
        }
    }
    Ok(())
}

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::F32),
        Just(DType::F64),
        Just(DType::F16),
        Just(DType::BF16)
    ]
}

/// Shapes `(a, b)` of a `torch.matmul` that multiplies: 1-D and 2-D operands, batches with
/// broadcasting (missing and size-1 batch dims), every size in 0..=7.
fn matmul_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let d = 0usize..=7;
    (
        d.clone(),
        d.clone(),
        d,
        0usize..=3,
        0usize..=3,
        prop::collection::vec(0usize..=3, 2),
        prop::bool::ANY,
    )
        .prop_map(|(m, k, n, ra, rb, batch, one)| {
            // ra/rb: 0 = 1-D, 1 = matrix, 2 = rank 3, 3 = rank 4.
            let bdims = |r: usize, take_one: bool| -> Vec<usize> {
                let lead = r.saturating_sub(1).min(2);
                let mut v: Vec<usize> = batch[2 - lead..].to_vec();
                if take_one && !v.is_empty() {
                    v[0] = 1;
                }
                v
            };
            let a = if ra == 0 {
                vec![k]
            } else {
                [bdims(ra, one), vec![m, k]].concat()
            };
            let b = if rb == 0 {
                vec![k]
            } else {
                [bdims(rb, !one), vec![k, n]].concat()
            };
            (a, b)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn matmul_matches_the_interpreter((a, b) in matmul_shapes(), dt in dtype(), seed in any::<u64>()) {
        let text = graph_text(dt, &a, &b, "y = matmul(a, b)", None);
        check_exact(&text, &[ints(dt, &a, seed), ints(dt, &b, seed ^ 1)])?;
    }

    /// `linear` reads the `[out, in]` weight transposed in place, then adds the bias.
    #[test]
    fn linear_with_bias_matches_the_interpreter(
        lead in prop::collection::vec(0usize..=4, 0..=2),
        k in 0usize..=7,
        n in 0usize..=6,
        dt in dtype(),
        bias in prop::bool::ANY,
        seed in any::<u64>(),
    ) {
        let x = [lead.clone(), vec![k]].concat();
        let w = vec![n, k];
        let (body, bias_shape) = if bias {
            ("y = linear(a, b, bias)", Some(vec![n]))
        } else {
            ("y = linear(a, b)", None)
        };
        let text = graph_text(dt, &x, &w, body, bias_shape.as_deref());
        let mut inputs = vec![ints(dt, &x, seed), ints(dt, &w, seed ^ 1)];
        if let Some(s) = &bias_shape {
            inputs.push(ints(dt, s, seed ^ 2));
        }
        check_exact(&text, &inputs)?;
    }
}

fn compiler(dir: &std::path::Path) -> Compiler {
    Compiler::new(
        CompileOptions::default()
            .dynamic(DynamicPolicy::Dynamic)
            .cache_dir(dir),
    )
}

/// A symbolic batch `N` through `linear`: the first call compiles (a miss), and after each
/// reset the one dynamic entry on disk serves every other batch size (a hit), each result
/// the interpreter's.
#[test]
fn one_dynamic_entry_serves_several_batch_sizes() {
    let text = "graph lin\ninput x: f32[N, 8]\ninput w: f32[5, 8]\ninput b: f32[5]\n\
                l = linear(x, w, b)\ny = gelu(l)\noutput y\n";
    let g = kiln::parse(text).expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = compiler(dir.path());
    let f = c.compile(&g).expect("compiles");
    for (i, n) in [2usize, 3, 7, 16, 2].into_iter().enumerate() {
        f.reset();
        let inputs = [
            ints(DType::F32, &[n, 8], i as u64),
            ints(DType::F32, &[5, 8], 11),
            ints(DType::F32, &[5], 12),
        ];
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = f.run(&refs).expect("runs");
        let outcome = f.last_report().expect("a report").outcome;
        let want = if i == 0 {
            kiln::Outcome::Miss
        } else {
            kiln::Outcome::Hit
        };
        assert_eq!(outcome, want, "N = {n}");
        let expected = kiln_ir::interpret(&g, &inputs).expect("interprets");
        assert_eq!(got[0].shape, [n, 5]);
        let close = got[0]
            .to_f32()
            .iter()
            .zip(expected[0].to_f32())
            .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
        assert!(
            close,
            "N = {n}: {:?} vs {:?}",
            got[0].to_f32(),
            expected[0].to_f32()
        );
    }
    let counters = c.counters();
    assert_eq!((counters.miss, counters.guard_miss), (1, 0), "{counters:?}");
}

/// Symbolic inner dims: `K == L` is a guard of the entry, so a call where they differ is a
/// typed error naming the node and both shapes, never a panic or an out-of-bounds read.
#[test]
fn symbolic_inner_dims_that_differ_are_a_typed_error() {
    let text = "graph mm\ninput a: f32[M, K]\ninput b: f32[L, N]\ny = matmul(a, b)\noutput y\n";
    let g = kiln::parse(text).expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compiler(dir.path()).compile(&g).expect("compiles");
    let good = [ints(DType::F32, &[2, 3], 1), ints(DType::F32, &[3, 4], 2)];
    let out = f.run(&[&good[0], &good[1]]).expect("K == L runs");
    assert_eq!(out[0].shape, [2, 4]);
    let bad = [ints(DType::F32, &[2, 3], 1), ints(DType::F32, &[4, 5], 2)];
    let err = f
        .run(&[&bad[0], &bad[1]])
        .expect_err("K != L is refused")
        .to_string();
    assert!(
        err.contains("`y`")
            && err.contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
        "{err}"
    );
}

/// `linear`'s `weight.T` is read in place: the program has one GEMM whose `b` operand is the
/// weight's input buffer with unit row stride, the bias add and gelu fuse into one kernel
/// that loads the GEMM's buffer, and no kernel copies the weight.
#[test]
fn linear_reads_the_transposed_weight_in_place() {
    let text = "graph lin\ninput x: f32[6, 8]\ninput w: f32[5, 8]\ninput b: f32[5]\n\
                l = linear(x, w, b)\ny = gelu(l)\noutput y\n";
    let g = kiln::parse(text).expect("parses");
    let c = Compiler::new(CompileOptions::default().no_cache());
    let p = c
        .schedule(&g, &[vec![6, 8], vec![5, 8], vec![5]])
        .expect("schedules");
    let gemms: Vec<_> = p
        .library_calls()
        .map(|call| match call {
            kiln_sched::LibraryCall::Gemm(g) => g.clone(),
            other => panic!("unexpected library call {other:?}"),
        })
        .collect();
    assert_eq!(gemms.len(), 1);
    let gm = &gemms[0];
    assert_eq!(gm.b.buf, 1, "the weight's input buffer");
    let (rs, cs) = (gm.b.row_stride.as_int(), gm.b.col_stride.as_int());
    assert_eq!(
        (rs, cs),
        (Some(1), Some(8)),
        "w.T: rows step 1, columns step K"
    );
    assert_eq!(
        p.kernels.len(),
        1,
        "bias add and gelu in one kernel: {:?}",
        p.kernels
    );
}

/// A matmul that is a graph output is written straight into the output buffer.
#[test]
fn an_output_matmul_writes_the_output_buffer() {
    let text = "graph mm\ninput a: f32[2, 3, 4]\ninput b: f32[4, 5]\ny = matmul(a, b)\noutput y\n";
    let g = kiln::parse(text).expect("parses");
    let c = Compiler::new(CompileOptions::default().no_cache());
    let p = c
        .schedule(&g, &[vec![2, 3, 4], vec![4, 5]])
        .expect("schedules");
    assert!(p.kernels.is_empty(), "no copy kernel: {:?}", p.kernels);
    let call = p.library_calls().next().expect("one GEMM");
    assert_eq!(call.writes(), p.outputs[0].1);
    let kiln_sched::LibraryCall::Gemm(gm) = call else {
        panic!("a GEMM")
    };
    assert_eq!(
        gm.b.batch_strides[0].as_int(),
        Some(0),
        "b broadcast over the batch"
    );
}

/// Products large enough for the threaded path (and the crate's packed kernels), with a
/// transposed operand and a batch, against the interpreter.
#[test]
fn large_threaded_products_match_the_interpreter() {
    let cases = [
        (
            "f32[130, 200]",
            "f32[200, 70]",
            "y = matmul(a, b)",
            [130, 200],
            [200, 70],
        ),
        (
            "f32[3, 64, 96]",
            "f32[80, 96]",
            "y = linear(a, b)",
            [0, 0],
            [80, 96],
        ),
        (
            "bf16[96, 128]",
            "bf16[128, 64]",
            "y = matmul(a, b)",
            [96, 128],
            [128, 64],
        ),
        (
            "f16[96, 128]",
            "f16[128, 64]",
            "y = matmul(a, b)",
            [96, 128],
            [128, 64],
        ),
    ];
    for (i, (sa, sb, body, da, db)) in cases.into_iter().enumerate() {
        let text = format!("graph big\ninput a: {sa}\ninput b: {sb}\n{body}\noutput y\n");
        let g = kiln::parse(&text).expect("parses");
        let dt = g.inputs()[0].dtype;
        let shape_a: Vec<usize> = if da[0] == 0 {
            vec![3, 64, 96]
        } else {
            da.to_vec()
        };
        let inputs = [ints(dt, &shape_a, i as u64), ints(dt, &db, 7)];
        let want = kiln_ir::interpret(&g, &inputs).expect("interprets");
        let got = compile_run(&text, DynamicPolicy::Static, &inputs).expect("runs");
        // Integer inputs with |sum| <= 9 * 200: exact in f32; f16/bf16 round the same sum.
        assert_eq!(got[0].to_f64(), want[0].to_f64(), "{text}");
    }
}

/// A reshape (attention's split into heads) and a permute before a batched matmul read the
/// input buffer in place: no copy kernel, and the interpreter's values.
#[test]
fn reshaped_and_permuted_operands_are_read_in_place() {
    let text = "graph heads\ninput a: f32[6, 8]\ninput b: f32[2, 4, 6]\n\
                r = reshape(a, [6, 2, 4])\nh = permute(r, [1, 0, 2])\ny = matmul(h, b)\noutput y\n";
    let g = kiln::parse(text).expect("parses");
    let c = Compiler::new(CompileOptions::default().no_cache());
    let p = c
        .schedule(&g, &[vec![6, 8], vec![2, 4, 6]])
        .expect("schedules");
    assert!(p.kernels.is_empty(), "no copy kernel: {:?}", p.kernels);
    let inputs = [
        ints(DType::F32, &[6, 8], 1),
        ints(DType::F32, &[2, 4, 6], 2),
    ];
    let want = kiln_ir::interpret(&g, &inputs).expect("interprets");
    for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
        let got = compile_run(text, policy, &inputs).expect("runs");
        assert_eq!(got[0].shape, [2, 6, 6]);
        assert_eq!(got[0].to_f64(), want[0].to_f64(), "{policy:?}");
    }
}

/// The kernel after a GEMM (bias, activation, residual add) runs as its epilogue, on each part
/// of the product right after it is computed: in column chunks over the pool (large product),
/// per product of a batch spread over the pool, whole after a row-split product (few
/// columns), and after the product for f16. Every case against the interpreter, exactly.
#[test]
fn gemm_epilogues_match_the_interpreter() {
    let cases: [(&str, Vec<Vec<usize>>); 5] = [
        (
            "input x: DT[N, 96]\ninput w: DT[300, 96]\ninput b: DT[300]\ninput r: DT[N, 300]\n\
             y = linear(x, w, b)\nz = relu(y)\no = add(z, r)",
            vec![vec![256, 96], vec![300, 96], vec![300], vec![256, 300]],
        ),
        (
            "input a: DT[B, 32, 32]\ninput b: DT[32, 32]\ny = matmul(a, b)\no = clamp(y, -20.0, 30.0)",
            vec![vec![64, 32, 32], vec![32, 32]],
        ),
        (
            "input a: DT[2, 7, 5]\ninput b: DT[5, 3]\ny = matmul(a, b)\no = mul(y, 2.0)",
            vec![vec![2, 7, 5], vec![5, 3]],
        ),
        (
            "input x: DT[N, 64]\ninput w: DT[8, 64]\ninput b: DT[8]\ny = linear(x, w, b)\no = relu(y)",
            vec![vec![2000, 64], vec![8, 64], vec![8]],
        ),
        (
            "input x: DT[N, 40]\ninput w: DT[130, 40]\ny = linear(x, w)\no = relu(y)",
            vec![vec![70, 40], vec![130, 40]],
        ),
    ];
    for (i, (body, shapes)) in cases.iter().enumerate() {
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let text = format!(
                "graph epi\n{}\noutput o\n",
                body.replace("DT", &dtype.to_string())
            );
            let g = kiln::parse(&text).expect("parses");
            let inputs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(j, s)| ints(dtype, s, 10 * i as u64 + j as u64))
                .collect();
            let want = kiln_ir::interpret(&g, &inputs).expect("interprets");
            for policy in [DynamicPolicy::Static, DynamicPolicy::Dynamic] {
                let got = compile_run(&text, policy, &inputs).expect("runs");
                // Integer inputs with |sum| <= 9 * 96 (+ bias, residual): exact in f32 and
                // f64; f16 rounds the same f32 sum once, as the interpreter does.
                assert_eq!(got[0].to_f64(), want[0].to_f64(), "{policy:?}\n{text}");
            }
        }
    }
}
