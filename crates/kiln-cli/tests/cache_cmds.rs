//! `kiln cache ...`: stats, list, clear, prune, verify, export/import, explain.
mod common;

use common::*;

fn graph(name: &str) -> String {
    example_graph(name).display().to_string()
}

/// Compiles `seed_mul` for length `n` with a lowered index limit; returns the JSON report.
fn compile_mul(s: &Scratch, n: usize, extra: &[&str]) -> serde_json::Value {
    let (x, y) = (format!("x={n}"), format!("y={n}"));
    let mut args = vec!["compile", "--json"];
    let g = graph("seed_mul");
    args.extend([g.as_str(), "--shape", &x, "--shape", &y]);
    args.extend(extra);
    json(&s.kiln(&args))
}

#[test]
fn stats_list_verify_prune_clear() {
    let s = Scratch::new();
    compile_mul(&s, 10, &[]);
    compile_mul(&s, 10, &["--index-limit", "64"]);
    let stats = json(&s.kiln(&["cache", "stats", "--json"]));
    assert_eq!(stats["entries"], 2);
    assert_eq!(stats["keys"], 2);
    assert_eq!(stats["backends"]["cpu"]["entries"], 2);
    assert!(stats["bytes"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(stats["lifetime"]["miss"], 2);
    let text = ok(&s.kiln(&["cache", "stats"]));
    assert!(text.contains("2 entries under 2 keys"), "{text}");
    assert!(text.contains("lifetime: hit 0, miss 2"), "{text}");

    let list = json(&s.kiln(&["cache", "list", "--json"]));
    let items = list.as_array().expect("a list");
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|e| e["graph"] == "mul" && e["backend"] == "cpu")
    );
    assert!(items.iter().any(|e| e["guards"] == "N < 64"), "{list}");
    let text = ok(&s.kiln(&["cache", "list"]));
    assert!(
        text.contains("N < 64") && text.contains("2 entries"),
        "{text}"
    );

    let text = ok(&s.kiln(&["cache", "verify"]));
    assert!(
        text.contains("checked 2 entries: 2 ok, 0 removed"),
        "{text}"
    );
    // Damage one entry file: verify removes it and says why.
    let entry = find_entry_file(&s.cache()).expect("an entry file");
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    let text = ok(&s.kiln(&["cache", "verify"]));
    assert!(text.contains("1 ok, 1 removed"), "{text}");
    assert_eq!(json(&s.kiln(&["cache", "stats", "--json"]))["entries"], 1);

    compile_mul(&s, 10, &[]);
    compile_mul(&s, 10, &["--index-limit", "64"]);
    let text = ok(&s.kiln(&["cache", "prune", "--max-size", "0"]));
    assert!(text.contains("removed 2 entries"), "{text}");
    assert_eq!(json(&s.kiln(&["cache", "stats", "--json"]))["entries"], 0);
    let bad = s.kiln(&["cache", "prune", "--max-size", "lots"]);
    assert!(fails(&bad, 2).contains("is not a size"));

    compile_mul(&s, 10, &[]);
    let text = ok(&s.kiln(&["cache", "clear"]));
    assert!(text.contains("removed 1 entry"), "{text}");
    assert!(ok(&s.kiln(&["cache", "list"])).contains("is empty"));
}

/// Some entry file under the cache dir (entries are named by their sha256).
fn find_entry_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(found) = find_entry_file(&p) {
                return Some(found);
            }
        } else if p.file_name()?.to_str()?.len() == 64 {
            return Some(p);
        }
    }
    None
}

#[test]
fn export_then_import_into_a_fresh_dir_hits() {
    let s = Scratch::new();
    let first = compile_mul(&s, 10, &[]);
    let bundle = s.path("bundle.kiln-cache");
    let bundle_arg = bundle.display().to_string();
    let text = ok(&s.kiln(&["cache", "export", &bundle_arg]));
    assert!(text.contains("exported 1 entry"), "{text}");
    let fresh = s.path("fresh");
    let text = ok(&s.kiln_with_cache(&["cache", "import", &bundle_arg], &fresh));
    assert!(text.contains("imported 1 entry"), "{text}");
    let g = graph("seed_mul");
    let o = s.kiln_with_cache(
        &[
            "compile", &g, "--shape", "x=10", "--shape", "y=10", "--json",
        ],
        &fresh,
    );
    let again = json(&o);
    assert_eq!(again["cache"], "hit");
    assert_eq!(again["key"], first["key"]);
    let garbage = s.write("garbage.bin", "not a bundle");
    let o = s.kiln(&["cache", "import", &garbage.display().to_string()]);
    assert!(fails(&o, 1).contains("kiln: error:"));
}

#[test]
fn explain_names_the_failing_guard_with_symbol_values() {
    let s = Scratch::new();
    compile_mul(&s, 10, &["--index-limit", "64"]);
    let g = graph("seed_mul");
    let args = [
        "cache",
        "explain",
        &g,
        "--shape",
        "x=100",
        "--shape",
        "y=100",
        "--index-limit",
        "64",
    ];
    let text = ok(&s.kiln(&args));
    assert!(text.contains("guard_miss: key"), "{text}");
    assert!(
        text.contains("entry 1 needs `N < 64` but N = 100"),
        "{text}"
    );
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let ex = json(&s.kiln(&with_json));
    assert_eq!(ex["verdict"], "guard_miss");
    assert_eq!(ex["key_exists"], true);
    assert_eq!(ex["entries"][0]["holds"], false);

    let fits = [
        "cache",
        "explain",
        &g,
        "-s",
        "x=20",
        "-s",
        "y=20",
        "--index-limit",
        "64",
    ];
    let text = ok(&s.kiln(&fits));
    assert!(
        text.contains("hit: key") && text.contains("holds"),
        "{text}"
    );
}

#[test]
fn explain_static_adaptive_pool_names_the_input_shape_that_changed() {
    let s = Scratch::new();
    let g = graph("seed_adaptive");
    let base = ["--dynamic", "static"];
    ok(&s.kiln(&[&["compile", &g, "--shape", "x=2x3x8x9"][..], &base].concat()));
    let text =
        ok(&s.kiln(&[&["cache", "explain", &g, "--shape", "x=2x3x9x9"][..], &base].concat()));
    assert!(text.contains("miss: key"), "{text}");
    assert!(text.contains("differs in inputs:"), "{text}");
    assert!(
        text.contains("x: f32[2, 3, 9, 9]") && text.contains("x: f32[2, 3, 8, 9]"),
        "{text}"
    );
}

#[test]
fn explain_a_changed_graph_names_the_graph_component() {
    let s = Scratch::new();
    let v1 = s.write(
        "g.kiln",
        "graph edited\ninput x: f32[N]\ny = relu(x)\noutput y\n",
    );
    let v1 = v1.display().to_string();
    ok(&s.kiln(&["compile", &v1, "--shape", "x=8"]));
    s.write(
        "g.kiln",
        "graph edited\ninput x: f32[N]\ny = sigmoid(x)\noutput y\n",
    );
    let ex = json(&s.kiln(&["cache", "explain", &v1, "--shape", "x=8", "--json"]));
    assert_eq!(ex["verdict"], "miss");
    let differing = ex["nearest"]["differing"]
        .as_array()
        .expect("a nearest key");
    let names: Vec<&str> = differing.iter().filter_map(|d| d[0].as_str()).collect();
    assert_eq!(names, ["graph"], "{ex}");
    let text = ok(&s.kiln(&["cache", "explain", &v1, "--shape", "x=8"]));
    assert!(text.contains("which differs in graph:"), "{text}");
}
