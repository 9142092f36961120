//! The seed's `TestFxGraphCacheHashing`: how a graph is written does not change its key; what
//! it computes, the options, dtypes and static sizes do; symbol values do not; and `explain`
//! names the component that differs from the nearest stored key.
mod cache_support;

use kiln::{Backend, CacheKey, CompileOptions, Compiler, DynamicPolicy, KilnError};

const BASE: &str = "graph keyed
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
k = tensor([1.0, 2.0, 3.0])
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=2, stride=2, padding=0)
m = sum(p, [2, 3], keepdim=false)
u = add(m, k)
output u
";
const SHAPES: [[i64; 4]; 2] = [[2, 3, 8, 8], [1, 3, 1, 1]];

fn shapes(n: i64) -> Vec<Vec<i64>> {
    let mut s: Vec<Vec<i64>> = SHAPES.iter().map(|d| d.to_vec()).collect();
    s[0][0] = n;
    s
}

fn key_with(c: &Compiler, src: &str, n: i64) -> CacheKey {
    let g = kiln::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let report = c.compile(&g).unwrap().prepare(&shapes(n)).unwrap();
    report.key.expect("compiled through the cache")
}

fn cached(dir: &std::path::Path, policy: DynamicPolicy) -> Compiler {
    Compiler::new(CompileOptions::default().cache_dir(dir).dynamic(policy))
}

#[test]
fn how_the_graph_is_written_does_not_change_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let c = cached(dir.path(), DynamicPolicy::Dynamic);
    let base = key_with(&c, BASE, 2);
    let same = [
        // attribute order (the seed's kwargs dict order)
        BASE.replace(
            "kernel_size=2, stride=2, padding=0",
            "padding=0, stride=2, kernel_size=2",
        ),
        BASE.replace(
            "sum(p, [2, 3], keepdim=false)",
            "sum(p, keepdim=false, dim=[2, 3])",
        ),
        // names of intermediate values, graph name, comments
        BASE.replace(
            "r = relu(t)\np = max_pool2d(r,",
            "act = relu(t)  # renamed\np = max_pool2d(act,",
        )
        .replace("graph keyed", "graph other"),
    ];
    for src in &same {
        assert_eq!(key_with(&c, src, 2), base, "{src}");
    }
}

#[test]
fn order_of_a_set_argument_does_not_change_the_key() {
    // The reduced dims are a set (the seed's set-valued kwarg): [3, 2] is [2, 3].
    let dir = tempfile::tempdir().unwrap();
    let c = cached(dir.path(), DynamicPolicy::Dynamic);
    let base = key_with(&c, BASE, 2);
    let reordered = BASE.replace("sum(p, [2, 3]", "sum(p, [3, 2]");
    assert_eq!(key_with(&c, &reordered, 2), base, "{reordered}");
}

#[test]
fn what_the_graph_computes_changes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let c = cached(dir.path(), DynamicPolicy::Dynamic);
    let base = key_with(&c, BASE, 2);
    let changes = [
        ("kernel_size=2, stride=2", "kernel_size=2, stride=1"), // an attribute value
        ("relu(t)", "sigmoid(t)"),                              // an op
        ("tensor([1.0, 2.0, 3.0])", "tensor([1.0, 2.0, 4.0])"), // a constant
        ("sum(p, [2, 3]", "sum(p, [0, 2, 3]"),                  // set contents
        ("input x: f32", "input x: f64"),                       // a dtype
    ];
    for (from, to) in changes {
        let src = BASE.replace(from, to);
        assert_ne!(src, BASE, "the change `{from}` applies");
        assert_ne!(
            key_with(&c, &src, 2),
            base,
            "`{from}` -> `{to}` must change the key"
        );
    }
    // A declared static size.
    let sized = |d: i64| {
        let src = format!("graph sized\ninput x: f32[N, {d}]\ny = relu(x)\noutput y\n");
        let g = kiln::parse(&src).unwrap();
        let report = c.compile(&g).unwrap().prepare(&[vec![3, d]]).unwrap();
        report.key.unwrap()
    };
    assert_ne!(sized(4), sized(5));
}

#[test]
fn options_change_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = key_with(&cached(dir.path(), DynamicPolicy::Dynamic), BASE, 2);
    let lowered = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .index_limit(1000),
    );
    assert_ne!(
        key_with(&lowered, BASE, 2),
        base,
        "index_limit is in the key"
    );
    let static_key = key_with(&cached(dir.path(), DynamicPolicy::Static), BASE, 2);
    assert_ne!(
        static_key, base,
        "a specialised N is another key than a symbolic N"
    );

    let cuda = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .backend(Backend::Cuda),
    );
    let g = kiln::parse(BASE).unwrap();
    match cuda.compile(&g).unwrap().prepare(&shapes(2)) {
        Ok(report) => assert_ne!(report.key, Some(base), "the backend is in the key"),
        // No GPU or driver here: a typed error, never a panic.
        Err(KilnError::BackendUnavailable { .. }) => {}
        #[cfg(feature = "cuda")]
        Err(KilnError::Cuda(_)) => {}
        Err(e) => panic!("unexpected error for an unavailable CUDA backend: {e}"),
    }
}

#[test]
fn symbol_values_do_not_change_the_key_under_dynamic() {
    let dir = tempfile::tempdir().unwrap();
    let dynamic = cached(dir.path(), DynamicPolicy::Dynamic);
    assert_eq!(key_with(&dynamic, BASE, 5), key_with(&dynamic, BASE, 7));
    let fixed = cached(dir.path(), DynamicPolicy::Static);
    assert_ne!(key_with(&fixed, BASE, 5), key_with(&fixed, BASE, 7));
}

#[test]
fn explain_names_the_component_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let c = cached(dir.path(), DynamicPolicy::Dynamic);
    key_with(&c, BASE, 2);
    let cache = c.cache().unwrap();

    // The same graph under other options: the nearest stored key differs by "options" alone.
    let lowered = Compiler::new(
        CompileOptions::default()
            .cache_dir(dir.path())
            .index_limit(1000),
    );
    let f = lowered.compile(&kiln::parse(BASE).unwrap()).unwrap();
    let why = f
        .explain(cache, &shapes(2), DynamicPolicy::Dynamic)
        .unwrap();
    assert_eq!(why.verdict, "miss");
    let nearest = why
        .nearest
        .expect("the stored key of the same graph is found");
    let names: Vec<&str> = nearest.differing.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(names, ["options"], "{nearest:?}");

    // A changed constant: the graph component differs.
    let changed = BASE.replace("3.0])", "9.0])");
    let f = c.compile(&kiln::parse(&changed).unwrap()).unwrap();
    let why = f
        .explain(cache, &shapes(2), DynamicPolicy::Dynamic)
        .unwrap();
    let names: Vec<String> = why
        .nearest
        .unwrap()
        .differing
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(names, ["graph"]);

    // The stored key itself: a hit, with its entry's guards holding.
    let f = c.compile(&kiln::parse(BASE).unwrap()).unwrap();
    let why = f
        .explain(cache, &shapes(9), DynamicPolicy::Dynamic)
        .unwrap();
    assert_eq!(why.verdict, "hit");
    assert!(why.key_exists && why.entries.iter().any(|e| e.holds));
}
