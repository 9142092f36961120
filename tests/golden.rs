//! Golden tests in the style of Cranelift's filetests: every `tests/golden/NAME.kiln` is
//! scheduled for the shapes its header names, and its kernel IR, CLIF and CUDA C are compared
//! with the blessed `NAME.kernel-ir`, `NAME.clif` and `NAME.cu` beside it. A scheduler or
//! codegen change shows up as a reviewable diff of those files.
//!
//! Header lines of a `.kiln` file (comments, so the graph parses as is):
//! `# shapes: x=4x8 y=1x8` (required), `# policy: static|dynamic` (default dynamic),
//! `# index_limit: N` (default the scheduler's).
//!
//! Re-bless after an intended change: `KILN_BLESS=1 cargo test --test golden`, then review
//! `git diff tests/golden`.
use std::path::{Path, PathBuf};

use kiln::{CompileOptions, Compiler, DynamicPolicy, Emit, EmitOptions};

const BLESS_VAR: &str = "KILN_BLESS";

/// What a golden file's header asks for.
struct Header {
    shapes: Vec<Vec<i64>>,
    policy: DynamicPolicy,
    index_limit: Option<i64>,
}

fn header(path: &Path, src: &str, graph: &kiln::Graph) -> Header {
    let field = |name: &str| {
        src.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name}:")))
            .map(str::trim)
    };
    let shapes_text = field("shapes")
        .unwrap_or_else(|| panic!("{}: no `# shapes: x=2x3 ...` line", path.display()));
    let mut named: Vec<(String, Vec<i64>)> = shapes_text
        .split_whitespace()
        .map(|a| {
            let (name, dims) = a.split_once('=').expect("NAME=DIMS");
            let dims = dims
                .split('x')
                .map(|d| d.parse().expect("a size"))
                .collect();
            (name.to_string(), dims)
        })
        .collect();
    let shapes = graph
        .inputs()
        .iter()
        .map(|d| {
            let i = named.iter().position(|(n, _)| *n == d.name);
            let i = i.unwrap_or_else(|| panic!("{}: no shape for `{}`", path.display(), d.name));
            named.remove(i).1
        })
        .collect();
    let policy = match field("policy").unwrap_or("dynamic") {
        "static" => DynamicPolicy::Static,
        "dynamic" => DynamicPolicy::Dynamic,
        other => panic!("{}: unknown policy `{other}`", path.display()),
    };
    let index_limit = field("index_limit").map(|v| v.parse().expect("an integer"));
    Header {
        shapes,
        policy,
        index_limit,
    }
}

/// The texts a golden file is compared on: (extension, text).
fn generate(path: &Path) -> Vec<(&'static str, String)> {
    let src = std::fs::read_to_string(path).expect("read golden graph");
    let graph = kiln::parse(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = header(path, &src, &graph);
    let mut opts = CompileOptions::default().no_cache().dynamic(h.policy);
    if let Some(limit) = h.index_limit {
        opts = opts.index_limit(limit);
    }
    let program = Compiler::new(opts)
        .schedule(&graph, &h.shapes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let emit_opts = EmitOptions::default();
    [
        ("kernel-ir", Emit::KernelIr),
        ("clif", Emit::Clif),
        ("cu", Emit::CudaC),
    ]
    .into_iter()
    .map(|(ext, what)| {
        let text = kiln::emit(&program, what, &emit_opts)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (ext, text)
    })
    .collect()
}

/// The first differing line of two texts, for the failure message (the full diff is
/// `git diff` after blessing).
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let at = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    format!(
        "line {}: blessed `{}`, now `{}` ({} vs {} lines)",
        at + 1,
        w.get(at).unwrap_or(&"<end>"),
        g.get(at).unwrap_or(&"<end>"),
        w.len(),
        g.len()
    )
}

fn graphs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/golden")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kiln"))
        .collect();
    out.sort();
    out
}

#[test]
fn generated_code_matches_the_blessed_files() {
    let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let graphs = graphs();
    assert!(graphs.len() >= 10, "the golden graphs are missing");
    for path in &graphs {
        for (ext, got) in generate(path) {
            let blessed = path.with_extension(ext);
            if bless {
                std::fs::write(&blessed, &got).expect("write blessed file");
                continue;
            }
            match std::fs::read_to_string(&blessed) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{}: {}",
                    blessed.display(),
                    first_difference(&want, &got)
                )),
                Err(e) => failures.push(format!("{}: {e}", blessed.display())),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "generated code differs from the blessed files; if the change is intended, re-bless \
         with `{BLESS_VAR}=1 cargo test --test golden` and review `git diff tests/golden`:\n{}",
        failures.join("\n")
    );
}
