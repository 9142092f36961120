//! `kiln run --param/--params`: weights from .npy files, bound once; two weight sets share
//! one cache entry; `kiln compile` needs no values for parameters.
mod common;

use common::*;
use kiln_ir::DType;

const AFFINE: &str = "graph affine
input x: f32[N, 4]
param w: f32[4]
param b: f32[4]
m = mul(x, w)
y = add(m, b)
output y
";

fn run_json(s: &Scratch, args: &[String]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    json(&s.kiln(&args))
}

#[test]
fn params_from_flags_and_a_directory_share_one_entry() {
    let s = Scratch::new();
    let g = s.write("affine.kiln", AFFINE);
    let graph = kiln::parse(AFFINE).unwrap();
    let x = data(DType::F32, &[3, 4], 1);
    let xp = s.npy("x", &x);
    let (w1, b1) = (data(DType::F32, &[4], 2), data(DType::F32, &[4], 3));
    let (w1p, b1p) = (s.npy("w", &w1), s.npy("b", &b1));
    let out1 = s.path("out1");
    let first = run_json(
        &s,
        &[
            "run".into(),
            g.display().to_string(),
            "--json".into(),
            "--input".into(),
            format!("x={}", xp.display()),
            "--param".into(),
            format!("w={}", w1p.display()),
            "--param".into(),
            format!("b={}", b1p.display()),
            "--out".into(),
            out1.display().to_string(),
        ],
    );
    assert_eq!(first["cache"], "miss");
    let want = kiln_ir::interpret(&graph, &[x.clone(), w1.clone(), b1.clone()]).unwrap();
    let got = read_npy(&out1.join("y.npy"), DType::F32);
    assert!(max_abs_diff(&got, &want[0]) < 1e-6);

    // Other weights from a directory (w), one overridden by a flag (b): the same entry.
    let dir = s.path("weights");
    std::fs::create_dir(&dir).unwrap();
    let (w2, b2) = (data(DType::F32, &[4], 4), data(DType::F32, &[4], 5));
    std::fs::write(dir.join("w.npy"), kiln_cli::npy::encode(&w2)).unwrap();
    std::fs::write(dir.join("b.npy"), kiln_cli::npy::encode(&b1)).unwrap();
    let b2p = s.npy("b2", &b2);
    let out2 = s.path("out2");
    let second = run_json(
        &s,
        &[
            "run".into(),
            g.display().to_string(),
            "--json".into(),
            "--input".into(),
            format!("x={}", xp.display()),
            "--params".into(),
            dir.display().to_string(),
            "--param".into(),
            format!("b={}", b2p.display()),
            "--out".into(),
            out2.display().to_string(),
        ],
    );
    assert_eq!(second["cache"], "hit");
    assert_eq!(second["key"], first["key"]);
    let want = kiln_ir::interpret(&graph, &[x, w2, b2]).unwrap();
    let got = read_npy(&out2.join("y.npy"), DType::F32);
    assert!(max_abs_diff(&got, &want[0]) < 1e-6);
}

#[test]
fn compile_needs_no_parameter_values() {
    let s = Scratch::new();
    let g = s.write("affine.kiln", AFFINE);
    let o = s.kiln(&["compile", g.to_str().unwrap(), "--shape", "x=8x4"]);
    let text = ok(&o);
    assert!(text.contains("miss"), "{text}");
}

#[test]
fn parameter_errors_name_the_parameter() {
    let s = Scratch::new();
    let g = s.write("affine.kiln", AFFINE);
    let x = s.npy("x", &data(DType::F32, &[3, 4], 1));
    let w = s.npy("w", &data(DType::F32, &[4], 2));
    let b5 = s.npy("b5", &data(DType::F32, &[5], 3));
    let gs = g.display().to_string();
    let xa = format!("x={}", x.display());
    let wa = format!("w={}", w.display());
    let missing = s.kiln(&["run", &gs, "--input", &xa, "--param", &wa]);
    assert!(
        fails(&missing, 2).contains("missing --param b="),
        "{}",
        stderr(&missing)
    );
    let as_input = s.kiln(&["run", &gs, "--input", &xa, "--input", &wa]);
    let err = fails(&as_input, 2);
    assert!(
        err.contains("`w` is a parameter") && err.contains("--param"),
        "{err}"
    );
    let ba = format!("b={}", b5.display());
    let wrong = s.kiln(&["run", &gs, "--input", &xa, "--param", &wa, "--param", &ba]);
    let err = fails(&wrong, 1);
    assert!(
        err.contains("parameter `b` dim 0: expected size 4, found 5"),
        "{err}"
    );
    let nodir = s.kiln(&[
        "run",
        &gs,
        "--input",
        &xa,
        "--params",
        "/nonexistent-kiln-dir",
    ]);
    let err = fails(&nodir, 1);
    assert!(
        err.contains("parameter file") && err.contains("w.npy"),
        "{err}"
    );
}
