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
fn f64_inputs_round_as_astype_unless_exact_inputs() {
    let s = Scratch::new();
    let y = s.npy("y", &data(DType::F32, &[4], 1));
    // f64 values that f32 cannot hold exactly: NumPy's default dtype for an f32 input.
    let x = s.npy(
        "x",
        &Tensor::from_f64(DType::F64, &[4], &[0.5, 0.1, 0.25, 2.0]),
    );
    let text = ok(&run_mul(&s, &x, &y));
    assert!(
        text.contains("input x: float64 file read as f32 (1 of 4 values rounded to nearest even"),
        "{text}"
    );
    let g = example_graph("seed_mul").display().to_string();
    let (xi, yi) = (format!("x={}", x.display()), format!("y={}", y.display()));
    let o = s.kiln(&["run", &g, "-i", &xi, "-i", &yi, "--exact-inputs"]);
    let err = fails(&o, 1);
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

#[test]
fn too_large_shapes_are_refused_alike_under_every_policy() {
    let s = Scratch::new();
    let g = example_graph("softmax").display().to_string();
    let mut messages = Vec::new();
    for policy in ["static", "dynamic", "auto"] {
        let o = s.kiln(&[
            "compile",
            &g,
            "--shape",
            "x=100000000000x100000000000",
            "--dynamic",
            policy,
        ]);
        let err = fails(&o, 1);
        assert!(
            err.contains("input `x` with shape 100000000000x100000000000 is too large")
                && err.contains("100000000000 * 100000000000 = 10000000000000000000000")
                && err.contains("more than the 2305843009213693951 f32 elements"),
            "{policy}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        messages.push(err);
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    // Nothing was stored for the shape static used to accept (the cache may not even exist).
    let stats = json(&s.kiln(&["cache", "stats", "--json"]));
    assert!(stats["exists"] == false || stats["entries"] == 0, "{stats}");
}

#[test]
fn an_empty_input_with_huge_dims_is_refused_by_run() {
    let s = Scratch::new();
    let g = s.write(
        "sum.kiln",
        "graph s\ninput x: f32[A, B, C]\ny = sum(x, dim=0)\noutput y\n",
    );
    let x = s.npy(
        "x",
        &Tensor::from_f64(DType::F32, &[0, 100_000_000_000, 100_000_000_000], &[]),
    );
    for policy in ["static", "dynamic"] {
        let o = s.kiln(&[
            "run",
            &g.display().to_string(),
            "--input",
            &format!("x={}", x.display()),
            "--dynamic",
            policy,
        ]);
        let err = fails(&o, 1);
        assert!(
            err.contains("input `x` with shape 0x100000000000x100000000000 is too large"),
            "{policy}: {err}"
        );
    }
}

#[test]
fn graph_errors_name_the_file_and_a_bom_is_accepted() {
    let s = Scratch::new();
    let bad = s.write(
        "bcast.kiln",
        "graph b\ninput x: f32[3]\ninput y: f32[4]\nz = add(x, y)\noutput z\n",
    );
    let o = s.kiln(&[
        "compile",
        &bad.display().to_string(),
        "-s",
        "x=3",
        "-s",
        "y=4",
    ]);
    let err = fails(&o, 1);
    let want = format!(
        "kiln: error: {}: node `z` (add): cannot broadcast",
        bad.display()
    );
    assert!(err.starts_with(&want), "{err}");
    let bom = s.write(
        "bom.kiln",
        "\u{feff}graph b\ninput x: f32[N]\ny = neg(x)\noutput y\n",
    );
    ok(&s.kiln(&["compile", &bom.display().to_string(), "-s", "x=3"]));
}

#[test]
fn a_file_in_the_cache_path_is_named() {
    let s = Scratch::new();
    let file = s.write("afile", "x");
    let o = s.kiln_with_cache(&["cache", "stats"], &file.join("sub"));
    let err = fails(&o, 1);
    assert!(
        err.contains(&format!(
            "cache path {} exists but is not a directory",
            file.display()
        )),
        "{err}"
    );
}

/// A Redis URL that points at an HTTP server: the client connects, then cannot parse the
/// answer. The warning must say so (one line), not "cannot connect".
#[test]
fn a_redis_url_at_an_http_server_says_it_is_not_redis() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("redis://127.0.0.1:{port}/0");
    let g = example_graph("seed_mul").display().to_string();
    let o = s_kiln_remote(&g, &url);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("connected, but the server did not answer as Redis does"),
        "{err}"
    );
    assert!(!err.contains("cannot connect"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

fn s_kiln_remote(graph: &str, url: &str) -> std::process::Output {
    let s = Scratch::new();
    s.kiln_env(
        &["compile", graph, "-s", "x=3", "-s", "y=3"],
        &[("KILN_REMOTE_CACHE", url)],
    )
}
