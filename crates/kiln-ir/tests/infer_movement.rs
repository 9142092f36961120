//! Shape inference of the data movement ops under symbolic sizes: result shapes, and the
//! guards recorded (only where the symbols' ranges, >= 2 under the dynamic policy, do not
//! decide a bound).
use kiln_ir::{Graph, IrError, infer_shapes};
use kiln_shape::{Bindings, Policy, ShapeEnv, bind_symbols, specialize_inputs};

/// The output shapes and the guards of `src` at `shapes`, dynamic policy.
fn infer(src: &str, shapes: &[Vec<i64>]) -> Result<(Vec<String>, String), IrError> {
    let g: Graph = kiln_ir::parse(src)?;
    let decls = g.input_dims();
    let values: Bindings = bind_symbols(&decls, shapes)?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &decls, &values, &Policy::Dynamic).expect("env");
    let types = infer_shapes(&g, &mut env, &inputs)?;
    let outs = g
        .outputs()
        .iter()
        .map(|o| {
            let dims: Vec<String> = types[o.index()]
                .shape
                .iter()
                .map(|e| e.to_string())
                .collect();
            format!("[{}]", dims.join(", "))
        })
        .collect();
    Ok((outs, env.produce_guards().to_string()))
}

fn graph(inputs: &str, body: &str, outputs: &str) -> String {
    format!("graph g\n{inputs}\n{body}\noutput {outputs}")
}

#[test]
fn cat_of_symbolic_sizes_adds_them_without_guards() {
    let src = graph(
        "input x: f32[N, 3]\ninput y: f32[M, 3]",
        "c = cat([x, y, x])",
        "c",
    );
    let (outs, guards) = infer(&src, &[vec![4, 3], vec![2, 3]]).expect("infers");
    assert_eq!(outs, ["[M + 2*N, 3]"]);
    assert_eq!(guards, "true");
}

#[test]
fn cat_of_two_symbols_in_another_dim_guards_their_equality() {
    let src = graph(
        "input x: f32[N, A]\ninput y: f32[M, B]",
        "c = cat([x, y])",
        "c",
    );
    let (outs, guards) = infer(&src, &[vec![4, 3], vec![2, 3]]).expect("infers");
    assert_eq!(outs, ["[M + N, A]"]);
    assert!(guards.contains("A") && guards.contains("B"), "{guards}");
    let err = infer(&src, &[vec![4, 3], vec![2, 5]])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Expected size A but got size B for tensor number 1"),
        "{err}"
    );
}

#[test]
fn slices_guard_only_bounds_the_ranges_do_not_decide() {
    let x = "input x: f32[N]";
    // Bounds within any N >= 2: no guard.
    for (body, shape) in [
        ("s = slice(x, 0, 1)", "[N - 1]"),
        ("s = slice(x, 0, -2, None)", "[2]"),
        ("s = select(x, 0, -1)", "[]"),
        ("s = narrow(x, 0, 1, 1)", "[1]"),
    ] {
        let (outs, guards) = infer(&graph(x, body, "s"), &[vec![7]]).expect(body);
        assert_eq!(outs, [shape], "{body}");
        assert_eq!(guards, "true", "{body}");
    }
    // An end of 5 is clamped only when N < 5: a guard, and a shape per side of it.
    let src = graph(x, "s = slice(x, 0, 1, 5, 2)", "s");
    let (outs, guards) = infer(&src, &[vec![7]]).expect("infers");
    assert_eq!(outs, ["[2]"]);
    assert!(guards.contains('5') && guards.contains('N'), "{guards}");
    let (outs, _) = infer(&src, &[vec![3]]).expect("infers");
    assert_eq!(outs, ["[N//2]"]);
}

#[test]
fn chunk_of_a_symbol_guards_the_part_count() {
    let src = graph("input x: f32[N]", "a, b = chunk(x, 2)", "a, b");
    let (outs, guards) = infer(&src, &[vec![7]]).expect("infers");
    assert_eq!(outs, ["[(N + 1)//2]", "[N - (N + 1)//2]"]);
    assert_ne!(guards, "true");
    // N = 7 and N = 2 give two parts; a three-way split of 7 does not have 2 parts.
    assert!(infer(&src, &[vec![2]]).is_ok());
    let src3 = graph("input x: f32[N]", "a, b = split(x, 3)", "a, b");
    let err = infer(&src3, &[vec![7]]).unwrap_err().to_string();
    assert!(err.contains("split(split_size=3)"), "{err}");
}

#[test]
fn pad_of_symbolic_dims() {
    let src = graph(
        "input x: f32[N, W]",
        "p = pad(x, [1, 2], mode=\"reflect\")\nq = pad(x, [2, -1, 1, 0])",
        "p, q",
    );
    let (outs, guards) = infer(&src, &[vec![3, 5]]).expect("infers");
    assert_eq!(outs, ["[N, W + 3]", "[N + 1, W + 1]"]);
    // reflect needs 2 < W (W >= 2 does not decide it).
    assert!(guards.contains('W'), "{guards}");
    let err = infer(&src, &[vec![3, 2]]).unwrap_err().to_string();
    assert!(err.contains("Padding size should be less than"), "{err}");
}
