//! Bad input ends in one `kiln: error:` line saying what and where, exit code 1 (2 for usage
//! errors), never a panic.
mod common;

use common::*;
use kiln_ir::{DType, Tensor};

fn run_mul(s: &Scratch, x: &std::path::Path, y: &std::path::Path) -> std::process::Output {
    let g = example_graph("seed_mul").display().to_string();
    s.kiln(&[
        "run",
        &g,
        "--input",
        &format!("x={}", x.display()),
        "--input",
        &format!("y={}", y.display()),
    ])
}

#[test]
fn missing_graph_and_input_files_are_named() {
    let s = Scratch::new();
    let o = s.kiln(&["compile", "/nonexistent/g.kiln", "--shape", "x=2"]);
    let err = fails(&o, 1);
    assert!(
        err.starts_with("kiln: error: cannot read graph file /nonexistent/g.kiln"),
        "{err}"
    );
    let y = s.npy("y", &data(DType::F32, &[4], 1));
    let err = fails(&run_mul(&s, &s.path("nope.npy"), &y), 1);
    assert!(
        err.contains("cannot read input file") && err.contains("nope.npy"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn parse_errors_say_file_line_and_column() {
    let s = Scratch::new();
    let bad = s.write(
        "bad.kiln",
        "graph g\ninput x: f32[N]\ny = frobnicate(x)\noutput y\n",
    );
    let o = s.kiln(&["compile", &bad.display().to_string(), "--shape", "x=3"]);
    let err = fails(&o, 1);
    let want = format!("kiln: error: {}:3:", bad.display());
    assert!(err.starts_with(&want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn wrong_dtypes_are_refused_unless_exact() {
    let s = Scratch::new();
    let y = s.npy("y", &data(DType::F32, &[4], 1));
    // f64 values that f32 cannot hold exactly.
    let x = s.npy(
        "x",
        &Tensor::from_f64(DType::F64, &[4], &[0.5, 0.1, 0.25, 2.0]),
    );
    let err = fails(&run_mul(&s, &x, &y), 1);
    assert!(
        err.contains("input `x`")
            && err.contains("value 0.1 at flat index 1 is not exactly representable as f32"),
        "{err}"
    );
    // The same dtype holding exact values converts fine.
    let exact = s.npy(
        "x",
        &Tensor::from_f64(DType::F64, &[4], &[1.0, -2.0, 0.5, 3.0]),
    );
    ok(&run_mul(&s, &exact, &y));
    // Not an .npy file at all.
    let junk = s.write("junk.npy", "hello");
    let err = fails(&run_mul(&s, &junk, &y), 1);
    assert!(
        err.contains("input `x`") && err.contains("not an .npy file"),
        "{err}"
    );
}

#[test]
fn fortran_order_is_refused() {
    let s = Scratch::new();
    let mut bytes = kiln_cli::npy::encode(&data(DType::F32, &[2, 2], 1));
    let at = bytes
        .windows(5)
        .position(|w| w == b"False")
        .expect("fortran_order field");
    bytes.splice(at..at + 5, *b"True ");
    let x = s.path("x.npy");
    std::fs::write(&x, bytes).unwrap();
    let g = example_graph("softmax").display().to_string();
    let o = s.kiln(&["run", &g, "--input", &format!("x={}", x.display())]);
    assert!(fails(&o, 1).contains("Fortran-order"));
}

#[test]
fn wrong_shapes_name_the_input_and_dim() {
    let s = Scratch::new();
    let x = s.npy("x", &data(DType::F32, &[4], 1));
    let y = s.npy("y", &data(DType::F32, &[5], 2));
    let err = fails(&run_mul(&s, &x, &y), 1);
    assert!(err.contains("input `y` dim 0"), "{err}");
    let g = example_graph("pool_relu").display().to_string();
    let o = s.kiln(&[
        "compile",
        &g,
        "--shape",
        "x=2x4x8x8",
        "--shape",
        "s=1x5x1x1",
    ]);
    let err = fails(&o, 1);
    assert!(err.contains("input `s` dim 1"), "{err}");
    let o = s.kiln(&["compile", &g, "--shape", "x=2x4x8", "--shape", "s=1x4x1x1"]);
    assert!(fails(&o, 1).contains("input `x`"));
    let o = s.kiln(&[
        "compile",
        &g,
        "--shape",
        "x=2x4xQx8",
        "--shape",
        "s=1x4x1x1",
    ]);
    // A malformed dim is a usage error (exit 2), like every other flag that cannot mean anything.
    assert!(fails(&o, 2).contains("dim 2 `Q` is not a size"));
}

#[test]
fn missing_unknown_or_duplicate_inputs_are_usage_errors() {
    let s = Scratch::new();
    let g = example_graph("seed_mul").display().to_string();
    let err = fails(&s.kiln(&["compile", &g, "--shape", "x=3"]), 2);
    assert!(err.contains("missing --shape y="), "{err}");
    let o = s.kiln(&["compile", &g, "-s", "x=3", "-s", "y=3", "-s", "z=3"]);
    assert!(fails(&o, 2).contains("no input `z`"));
    let o = s.kiln(&["compile", &g, "-s", "x=3", "-s", "y=3", "-s", "x=4"]);
    assert!(fails(&o, 2).contains("--shape x=... is given twice"));
    let o = s.kiln(&["compile", &g, "-s", "x3", "-s", "y=3"]);
    assert!(fails(&o, 2).contains("expected NAME=VALUE"));
    let y = s.npy("y", &data(DType::F32, &[3], 1));
    let o = s.kiln(&["run", &g, "--input", &format!("y={}", y.display())]);
    assert!(fails(&o, 2).contains("missing --input x="));
    let o = s.kiln(&["run", &g, "-i", "x=a.npy", "-i", "y=b.npy", "-i", "w=c.npy"]);
    assert!(fails(&o, 2).contains("no input `w`"));
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    fails(&s.kiln(&["frobnicate"]), 2);
    fails(&s.kiln(&["run"]), 2);
    fails(&s.kiln(&["compile", "g.kiln", "--emit", "assembly"]), 2);
    fails(&s.kiln(&["cache", "unknown"]), 2);
}
