//! Compiled backward: the joint graphs of `kiln_grad::grad` compiled on the CPU backend
//! (`kiln::Compiler`) compute what the reference interpreter computes, in f64 and f32: the
//! PyTorch autograd fixture's graphs (`tests/fixtures/torch/autograd.json`) and random
//! differentiable graphs (`crates/kiln-grad/tests/common/random_graph.rs`). A joint graph
//! over a symbolic batch is one cache entry for two batch sizes, and a fresh compiler on the
//! same cache directory (a new process, as far as kiln knows) hits it.
#[path = "../crates/kiln-grad/tests/common/random_graph.rs"]
mod random_graph;

use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Graph, Outcome, Tensor};
use kiln_grad::{GradSpec, grad};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode(t: &Value) -> Tensor {
    assert_eq!(t["dtype"], "f64");
    let shape = t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    Tensor {
        dtype: DType::F64,
        shape,
        data: unhex(t["hex"].as_str().unwrap()).into(),
    }
}

fn in_dtype(t: &Tensor, dtype: DType) -> Tensor {
    Tensor::from_f64(dtype, &t.shape, &t.to_f64())
}

/// The first element where `got` and `want` differ by more than `rtol` of the tensor's
/// largest magnitude (plus the element's own); infinities and NaNs must match.
fn mismatch(got: &Tensor, want: &Tensor, rtol: f64) -> Option<String> {
    if (got.dtype, &got.shape) != (want.dtype, &want.shape) {
        return Some(format!(
            "{} {:?}, interpreter {} {:?}",
            got.dtype, got.shape, want.dtype, want.shape
        ));
    }
    let (g, w) = (got.to_f64(), want.to_f64());
    let scale = w
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f64, |m, v| m.max(v.abs()));
    g.iter().zip(&w).enumerate().find_map(|(i, (a, b))| {
        let same = if a.is_finite() && b.is_finite() {
            (a - b).abs() <= rtol * (scale + a.abs().max(b.abs()))
        } else {
            a == b || (a.is_nan() && b.is_nan())
        };
        (!same).then(|| format!("element {i}: compiled {a}, interpreter {b}"))
    })
}

fn rtol(dtype: DType) -> f64 {
    if dtype == DType::F64 { 1e-10 } else { 2e-4 }
}

fn run(f: &kiln::CompiledFunction, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    f.run(&refs).map_err(|e| e.to_string())
}

/// What a set of joint graphs gave: how many compiled, and every disagreement, described.
#[derive(Default)]
struct Tally {
    compiled: usize,
    errors: Vec<String>,
}

impl Tally {
    fn check(&self, want_compiled: usize) {
        assert!(self.errors.is_empty(), "{}", self.errors.join("\n"));
        assert_eq!(self.compiled, want_compiled, "every joint graph compiled");
    }
}

/// Compiles the joint graph of `sum(output)` w.r.t. `wrt` and compares every output with
/// the interpreter's, into `tally`.
fn compiled_matches(
    tally: &mut Tally,
    what: &str,
    g: &Graph,
    output: &str,
    wrt: &[&str],
    inputs: &[Tensor],
    dtype: DType,
) {
    let joint = match grad(g, &GradSpec::sum_of(output, wrt)) {
        Ok(j) => j,
        Err(e) => return tally.errors.push(format!("{what}: grad: {e}")),
    };
    let want = kiln_ir::interpret(&joint, inputs).expect("the joint graph interprets");
    let compiler = Compiler::new(CompileOptions::default().no_cache());
    let got = compiler
        .compile(&joint)
        .map_err(|e| e.to_string())
        .and_then(|f| run(&f, inputs));
    let got = match got {
        Ok(o) => o,
        Err(e) => return tally.errors.push(format!("{what}: compiled: {e}")),
    };
    tally.compiled += 1;
    let names = joint.output_names();
    for ((a, b), n) in got.iter().zip(&want).zip(&names) {
        if let Some(m) = mismatch(a, b, rtol(dtype)) {
            tally.errors.push(format!("{what}: {n}: {m}"));
        }
    }
}

fn fixture_cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch/autograd.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// The tally over the fixture's cases, and how many ran.
fn fixture_graphs_compile(dtype: DType) -> (Tally, usize) {
    let mut tally = Tally::default();
    let mut ran = 0;
    for case in fixture_cases() {
        let name = case["name"].as_str().unwrap();
        let text = case["graph"].as_str().unwrap().replace("f64", dtype.name());
        let g = kiln::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wrt: Vec<&str> = case["wrt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        let inputs: Vec<Tensor> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| in_dtype(&decode(t), dtype))
            .collect();
        ran += 1;
        compiled_matches(
            &mut tally,
            &format!("{name} {dtype}"),
            &g,
            "y",
            &wrt,
            &inputs,
            dtype,
        );
    }
    assert!(ran >= 90, "{ran} cases ran");
    (tally, ran)
}

#[test]
fn fixture_joint_graphs_compile_f64() {
    let (tally, ran) = fixture_graphs_compile(DType::F64);
    tally.check(ran);
}

#[test]
fn fixture_joint_graphs_compile_f32() {
    let (tally, ran) = fixture_graphs_compile(DType::F32);
    tally.check(ran);
}

/// A deterministic generator (tests must not depend on a global seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    /// A value in `±[0.2, 2.0)`.
    fn away_from_zero(&mut self) -> f64 {
        let m = 0.2 + 1.8 * (self.next() as f64 / (1u64 << 53) as f64);
        if self.next() & 1 == 0 { -m } else { m }
    }
}

fn random_graphs_compile(dtype: DType, seed: u64) -> Tally {
    let mut rng = Lcg(seed);
    let mut tally = Tally::default();
    for i in 0..RANDOM_GRAPHS {
        let choices: Vec<u32> = (0..9).map(|_| rng.next() as u32).collect();
        let rg = random_graph::random_graph(&choices, dtype.name());
        let g = kiln::parse(&rg.text).unwrap();
        let inputs: Vec<Tensor> = rg
            .shapes()
            .iter()
            .map(|s| {
                let n = s.iter().product();
                let v: Vec<f64> = (0..n).map(|_| rng.away_from_zero()).collect();
                Tensor::from_f64(dtype, s, &v)
            })
            .collect();
        let what = format!("random graph {i} {dtype}\n{}", rg.text);
        compiled_matches(
            &mut tally,
            &what,
            &g,
            &rg.output,
            &rg.input_names(),
            &inputs,
            dtype,
        );
    }
    tally
}

/// Random graphs per dtype (each compile is a Cranelift build of the whole joint graph).
const RANDOM_GRAPHS: usize = 12;

#[test]
fn random_joint_graphs_compile_f64() {
    random_graphs_compile(DType::F64, 11).check(RANDOM_GRAPHS);
}

#[test]
fn random_joint_graphs_compile_f32() {
    random_graphs_compile(DType::F32, 12).check(RANDOM_GRAPHS);
}

/// Unary math, softmax, a permute, cumsum and a mean over the symbolic batch.
const SYMBOLIC: &str = "graph g
input x: DT[N, 4]
t = tanh(x)
s = softmax(t, dim=1)
r = permute(s, [1, 0])
c = cumsum(r, dim=1)
e = sin(c)
y = mean(e, dim=1)
output y
";

/// An MLP layer: linear (a broadcast bias, summed back over the batch), layer_norm, gelu.
const SYMBOLIC_MLP: &str = "graph g
input x: DT[N, 4]
input w: DT[3, 4]
input b: DT[3]
l = linear(x, w, b)
n = layer_norm(l, [3])
y = gelu(n)
output y
";

fn batch_inputs(g: &Graph, dtype: DType, n: usize, seed: u64) -> Vec<Tensor> {
    let mut rng = Lcg(seed);
    g.inputs()
        .iter()
        .map(|d| {
            let shape: Vec<usize> = d
                .dims
                .iter()
                .map(|dim| match dim {
                    kiln_shape::Dim::Fixed(c) => *c as usize,
                    kiln_shape::Dim::Sym(_) => n,
                })
                .collect();
            let count = shape.iter().product();
            let v: Vec<f64> = (0..count).map(|_| rng.away_from_zero()).collect();
            Tensor::from_f64(dtype, &shape, &v)
        })
        .collect()
}

fn dynamic(dir: &std::path::Path) -> Compiler {
    Compiler::new(
        CompileOptions::default()
            .cache_dir(dir)
            .dynamic(DynamicPolicy::Dynamic),
    )
}

/// One compiled joint entry serves batch sizes 5 and 7; a fresh compiler on the same cache
/// directory hits it; every result is the interpreter's.
fn symbolic_batch(text: &str, wrt: &[&str], dtype: DType) {
    let what = format!("{dtype}");
    let g = kiln::parse(&text.replace("DT", dtype.name())).unwrap();
    let joint = grad(&g, &GradSpec::sum_of("y", wrt)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = dynamic(dir.path());
    let f = first.compile(&joint).unwrap();
    let check = |out: &[Tensor], ins: &[Tensor], at: &str| {
        let want = kiln_ir::interpret(&joint, ins).unwrap();
        for ((a, b), n) in out.iter().zip(&want).zip(joint.output_names()) {
            if let Some(m) = mismatch(a, b, rtol(dtype)) {
                panic!("{what} {at}: {n}: {m}");
            }
        }
    };

    let five = batch_inputs(&joint, dtype, 5, 1);
    check(&run(&f, &five).unwrap(), &five, "N=5");
    let miss = f.last_report().unwrap();
    assert_eq!(miss.outcome, Outcome::Miss, "{what}");

    let seven = batch_inputs(&joint, dtype, 7, 2);
    let out7 = run(&f, &seven).unwrap();
    check(&out7, &seven, "N=7");
    // Served without compiling: by the in-memory specialisation (whose guards hold for 7)
    // or the cache, never a miss.
    let c = first.counters();
    assert_eq!((c.miss, c.guard_miss), (1, 0), "{what}: {c:?}");
    assert_eq!(c.memory + c.hit, 1, "{what}: {c:?}");
    // Through the cache: the entry's guards pass for N=7.
    f.reset();
    assert_eq!(run(&f, &seven).unwrap(), out7, "{what}");
    let second = f.last_report().unwrap();
    assert_eq!(second.outcome, Outcome::Hit, "{what}");
    assert_eq!(second.key, miss.key, "{what}: one key for both batch sizes");

    // A new process, as far as kiln knows: a fresh compiler on the same directory.
    let fresh = dynamic(dir.path());
    let h = fresh.compile(&joint).unwrap();
    let again = run(&h, &seven).unwrap();
    let hit = h.last_report().unwrap();
    assert_eq!(hit.outcome, Outcome::Hit, "{what}");
    assert_eq!(hit.key, miss.key, "{what}");
    assert_eq!(
        again, out7,
        "{what}: the cached program computes what the fresh one did"
    );
}

#[test]
fn symbolic_batch_joint_graph_is_one_entry_f64() {
    symbolic_batch(SYMBOLIC, &["x"], DType::F64);
}

#[test]
fn symbolic_batch_joint_graph_is_one_entry_f32() {
    symbolic_batch(SYMBOLIC, &["x"], DType::F32);
}

#[test]
fn symbolic_batch_mlp_joint_graph_is_one_entry() {
    symbolic_batch(SYMBOLIC_MLP, &["x", "w", "b"], DType::F64);
    symbolic_batch(SYMBOLIC_MLP, &["x", "w", "b"], DType::F32);
}
