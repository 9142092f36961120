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
