//! The gradient family in kiln-ir: the interpreter on hand-computed cases (`sum_to`,
//! `expand_as`, `reshape_as`, every `slice_scatter` form, the `select_scatter` and `*_like`
//! composites), the text format's round trip, and typed errors naming the node.
use kiln_ir::parse::parse_unchecked;
use kiln_ir::print::same_structure;
use kiln_ir::{DType, Tensor, print};

fn iota(shape: &[usize], from: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| from + i as f64).collect();
    Tensor::from_f64(DType::F32, shape, &v)
}

fn run(src: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let g = kiln_ir::parse(src).map_err(|e| e.to_string())?;
    kiln_ir::interpret(&g, inputs).map_err(|e| e.to_string())
}

fn one(src: &str, inputs: &[Tensor]) -> (Vec<usize>, Vec<f64>) {
    let t = run(src, inputs)
        .unwrap_or_else(|e| panic!("{e}\n{src}"))
        .remove(0);
    (t.shape.clone(), t.to_f64())
}

/// (the target's dims in the text, its shape, the result's shape and values)
type SumToCase = (&'static str, &'static [usize], Vec<usize>, Vec<f64>);

fn sum_to(like: &str) -> String {
    format!("graph g\ninput x: f32[2, 3]\ninput l: f32[{like}]\ns = sum_to(x, l)\noutput s\n")
}

#[test]
fn sum_to_adds_over_leading_and_size_one_dims() {
    let x = iota(&[2, 3], 0.0); // [[0, 1, 2], [3, 4, 5]]
    let cases: [SumToCase; 5] = [
        ("3", &[3], vec![3], vec![3., 5., 7.]),
        ("2, 1", &[2, 1], vec![2, 1], vec![3., 12.]),
        ("1, 3", &[1, 3], vec![1, 3], vec![3., 5., 7.]),
        ("1, 1", &[1, 1], vec![1, 1], vec![15.]),
        ("2, 3", &[2, 3], vec![2, 3], vec![0., 1., 2., 3., 4., 5.]),
    ];
    for (like, shape, want_shape, want) in cases {
        let l = iota(shape, 100.0); // read for its shape only
        assert_eq!(
            one(&sum_to(like), &[x.clone(), l]),
            (want_shape, want),
            "{like}"
        );
    }
    let src = "graph g\ninput x: f32[2, 3]\ninput l: f32[]\ns = sum_to(x, l)\noutput s\n";
    let l = Tensor::from_f64(DType::F32, &[], &[7.0]);
    assert_eq!(one(src, &[x, l]), (vec![], vec![15.]));
}

#[test]
fn expand_as_and_reshape_as_take_the_other_values_shape() {
    let src = "graph g\ninput b: f32[3]\ninput x: f32[2, 3]\ne = expand_as(b, x)\noutput e\n";
    let (b, x) = (iota(&[3], 0.0), iota(&[2, 3], 9.0));
    assert_eq!(
        one(src, &[b, x.clone()]),
        (vec![2, 3], vec![0., 1., 2., 0., 1., 2.])
    );
    let src = "graph g\ninput x: f32[2, 3]\ninput o: f32[3, 2]\nr = reshape_as(x, o)\noutput r\n";
    let want = (vec![3, 2], vec![9., 10., 11., 12., 13., 14.]);
    assert_eq!(one(src, &[x, iota(&[3, 2], 0.0)]), want);
}

fn scatter(call: &str, src_shape: &str) -> String {
    format!("graph g\ninput x: f32[2, 4]\ninput s: f32[{src_shape}]\ny = {call}\noutput y\n")
}

#[test]
fn slice_scatter_writes_src_into_each_form_of_slice() {
    let x = iota(&[2, 4], 0.0); // [[0, 1, 2, 3], [4, 5, 6, 7]]
    let s = iota(&[2, 2], 10.0); // [[10, 11], [12, 13]]
    let cases = [
        (
            "slice_scatter(x, s, dim=1, start=1, step=2)",
            vec![0., 10., 2., 11., 4., 12., 6., 13.],
        ),
        (
            "slice_scatter(x, s, dim=1, start=-2, length=2)",
            vec![0., 1., 10., 11., 4., 5., 12., 13.],
        ),
        (
            "slice_scatter(x, s, dim=1, chunks=2, index=1, count=2)",
            vec![0., 1., 10., 11., 4., 5., 12., 13.],
        ),
        (
            "slice_scatter(x, s, dim=-1, end=2)",
            vec![10., 11., 2., 3., 12., 13., 6., 7.],
        ),
    ];
    for (call, want) in cases {
        assert_eq!(
            one(&scatter(call, "2, 2"), &[x.clone(), s.clone()]),
            (vec![2, 4], want),
            "{call}"
        );
    }
    // Along dim 0 with Python's clamped end; a split part with sections.
    let r = iota(&[1, 4], 20.0);
    let src = scatter("slice_scatter(x, s, start=1, end=99)", "1, 4");
    let want = vec![0., 1., 2., 3., 20., 21., 22., 23.];
    assert_eq!(one(&src, &[x.clone(), r]), (vec![2, 4], want));
    let c = iota(&[2, 1], 30.0);
    let src = scatter(
        "slice_scatter(x, s, dim=1, split_size_or_sections=[1, 3], index=0, count=2)",
        "2, 1",
    );
    let want = vec![30., 1., 2., 3., 31., 5., 6., 7.];
    assert_eq!(one(&src, &[x, c]), (vec![2, 4], want));
}

#[test]
fn select_scatter_and_the_fills_follow_pytorch() {
    let x = iota(&[2, 3], 0.0);
    let src =
        "graph g\ninput x: f32[2, 3]\ninput s: f32[3]\ny = select_scatter(x, s, 0, -1)\noutput y\n";
    let want = (vec![2, 3], vec![0., 1., 2., 10., 11., 12.]);
    assert_eq!(one(src, &[x.clone(), iota(&[3], 10.0)]), want);
    let src = "graph g\ninput x: f32[2, 3]\ninput s: f32[2]\ny = select_scatter(x, s, dim=1, index=1)\noutput y\n";
    let want = (vec![2, 3], vec![0., 10., 2., 3., 11., 5.]);
    assert_eq!(one(src, &[x.clone(), iota(&[2], 10.0)]), want);

    let src = "graph g\ninput x: f32[2, 3]\nz = zeros_like(x)\no = ones_like(x, dtype=f64)\n\
               f = full_like(x, 2.5)\nb = full_like(x, 1, dtype=bool)\noutput z, o, f, b\n";
    let out = run(src, &[x]).expect("runs");
    let got: Vec<(DType, Vec<usize>, Vec<f64>)> = out
        .iter()
        .map(|t| (t.dtype, t.shape.clone(), t.to_f64()))
        .collect();
    assert_eq!(got[0], (DType::F32, vec![2, 3], vec![0.0; 6]));
    assert_eq!(got[1], (DType::F64, vec![2, 3], vec![1.0; 6]));
    assert_eq!(got[2], (DType::F32, vec![2, 3], vec![2.5; 6]));
    assert_eq!(got[3], (DType::Bool, vec![2, 3], vec![1.0; 6]));
}

#[test]
fn the_printed_forms_parse_back_to_the_same_graph() {
    let src = "graph g
input x: f32[N, C]
input b: f32[C]
input s: f32[N, 2]
e = expand_as(b, x)
r = reshape_as(e, x)
t = sum_to(r, b)
a = slice_scatter(x, s, dim=1, start=1, end=5, step=2)
c = slice_scatter(a, s, dim=1, start=-2, length=2)
d = slice_scatter(c, s, dim=1, chunks=3, index=2, count=3)
f = slice_scatter(d, s, dim=1, split_size_or_sections=[2, 4], index=0, count=2)
h = slice_scatter(f, s, dim=-1, split_size_or_sections=2, index=1, count=3)
k = slice_scatter(x, x)
p = cat_part(k, [s, h], dim=1, index=1)
output t, h, p
";
    let g = parse_unchecked(src).expect("parses");
    assert_eq!(print(&g), src);
    let back = parse_unchecked(&print(&g)).expect("reparses");
    assert!(same_structure(&g, &back));
    // The composites print as the primitives they expand to, which parse back too.
    let src = "graph g\ninput x: f32[N, C]\ninput s: f32[C]\ny = select_scatter(x, s, 0, 1)\n\
               z = full_like(y, 3.0, dtype=f64)\noutput z\n";
    let g = kiln_ir::parse(src).expect("parses");
    let text = print(&g);
    assert!(text.contains("slice_scatter(x, "), "{text}");
    assert!(same_structure(
        &g,
        &kiln_ir::parse(&text).expect("reparses")
    ));
}

#[test]
fn bad_shapes_are_typed_errors_naming_the_node() {
    let x = iota(&[2, 3], 0.0);
    let err = run(&sum_to("2, 2"), &[x.clone(), iota(&[2, 2], 0.0)]).expect_err("3 vs 2");
    assert!(
        err.contains("`s`") && err.contains("neither 1 nor the source's 3"),
        "{err}"
    );

    let src = "graph g\ninput x: f32[2, 3]\ninput l: f32[1, 2, 3]\ns = sum_to(x, l)\noutput s\n";
    let err = run(src, &[x.clone(), iota(&[1, 2, 3], 0.0)]).expect_err("rank");
    assert!(err.contains("sum_to only removes dims"), "{err}");

    let src = "graph g\ninput x: f32[2, 3]\ninput l: f32[3, 3]\ne = expand_as(x, l)\noutput e\n";
    let err = run(src, &[x.clone(), iota(&[3, 3], 0.0)]).expect_err("2 vs 3");
    assert!(
        err.contains("`e`") && err.contains("neither 1 nor"),
        "{err}"
    );

    let src = "graph g\ninput x: f32[2, 3]\ninput l: f32[4]\nr = reshape_as(x, l)\noutput r\n";
    let err = run(src, &[x.clone(), iota(&[4], 0.0)]).expect_err("6 vs 4");
    assert!(
        err.contains("`r`") && err.contains("element counts differ"),
        "{err}"
    );

    let err = run(
        &scatter("slice_scatter(x, s, dim=1, start=1)", "2, 2"),
        &[iota(&[2, 4], 0.0), iota(&[2, 2], 0.0)],
    )
    .expect_err("the slice has 3 columns");
    assert!(
        err.contains("`y`") && err.contains("has 3 at dim 1"),
        "{err}"
    );

    let src =
        "graph g\ninput x: f32[2, 3]\ninput s: f32[3]\ny = select_scatter(x, s, 0, 2)\noutput y\n";
    let err = run(src, &[x.clone(), iota(&[3], 0.0)]).expect_err("index 2 of 2 rows");
    assert!(err.contains("`y`"), "{err}");
}

#[test]
fn cat_part_is_the_block_cat_put_there() {
    let src = "graph g\ninput x: f32[2, 5]\ninput a: f32[2, 2]\ninput b: f32[2, 3]\n\
               p = cat_part(x, [a, b], dim=-1, index=1)\noutput p\n";
    let x = iota(&[2, 5], 0.0);
    let (a, b) = (iota(&[2, 2], 50.0), iota(&[2, 3], 60.0));
    assert_eq!(
        one(src, &[x, a, b]),
        (vec![2, 3], vec![2., 3., 4., 7., 8., 9.])
    );
}

#[test]
fn slice_scatter_casts_src_to_the_inputs_dtype_as_pytorch_does() {
    let src =
        "graph g\ninput x: f16[2]\ninput s: f64[1]\ny = slice_scatter(x, s, end=1)\noutput y\n";
    let x = Tensor::from_f64(DType::F16, &[2], &[1.0, 2.0]);
    let s = Tensor::from_f64(DType::F64, &[1], &[0.1]);
    let y = run(src, &[x, s]).expect("runs").remove(0);
    assert_eq!(y.dtype, DType::F16);
    assert_eq!(y.to_f64(), vec![kiln_ir::round_to(DType::F16, 0.1), 2.0]);
}

#[test]
fn slice_scatter_refuses_keywords_of_two_forms() {
    for call in [
        "slice_scatter(x, s, dim=1, start=0, length=2, end=2)",
        "slice_scatter(x, s, dim=1, chunks=2, index=0, count=2, start=0)",
        "slice_scatter(x, s, dim=1, chunks=2, split_size_or_sections=2, index=0, count=2)",
        "slice_scatter(x, s, dim=1, start=0, index=1)",
        "slice_scatter(x, s, dim=1, chunks=2, index=-1, count=2)",
    ] {
        let err = kiln_ir::parse(&scatter(call, "2, 2"))
            .map(|_| ())
            .expect_err(call)
            .to_string();
        assert!(
            err.contains("node 'y' (slice_scatter): argument '"),
            "{call}: {err}"
        );
    }
}
