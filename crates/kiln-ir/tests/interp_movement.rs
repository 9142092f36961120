//! Reference interpreter: data movement ops on hand-computed cases, the text format's
//! several-result composites, and PyTorch's errors (typed, naming the node).
use kiln_ir::{DType, Tensor};

/// `0, 1, 2, ...` as f32 of `shape`.
fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f64(
        DType::F32,
        shape,
        &(0..n).map(|v| v as f64).collect::<Vec<_>>(),
    )
}

fn run(src: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let g = kiln_ir::parse(src).map_err(|e| e.to_string())?;
    kiln_ir::interpret(&g, inputs).map_err(|e| e.to_string())
}

/// The outputs' shapes and values.
fn values(src: &str, inputs: &[Tensor]) -> Vec<(Vec<usize>, Vec<f64>)> {
    run(src, inputs)
        .unwrap_or_else(|e| panic!("{e}\n{src}"))
        .iter()
        .map(|t| (t.shape.clone(), t.to_f64()))
        .collect()
}

fn one(src: &str, inputs: &[Tensor]) -> (Vec<usize>, Vec<f64>) {
    values(src, inputs).remove(0)
}

#[test]
fn cat_and_stack() {
    let (x, y) = (iota(&[2, 2]), iota(&[2, 1]));
    let src = "graph g\ninput x: f32[2, 2]\ninput y: f32[2, 1]\nc = cat([x, y], dim=1)\noutput c";
    assert_eq!(
        one(src, &[x.clone(), y]),
        (vec![2, 3], vec![0., 1., 0., 2., 3., 1.])
    );
    let src = "graph g\ninput x: f32[2, 2]\ns = stack([x, x], dim=-1)\noutput s";
    assert_eq!(
        one(src, &[x]),
        (vec![2, 2, 2], vec![0., 0., 1., 1., 2., 2., 3., 3.])
    );
}

#[test]
fn split_and_chunk_sizes_follow_pytorch() {
    let v = iota(&[5]);
    // chunk(5 elements, 4) gives 3 parts of 2, 2, 1.
    let src = "graph g\ninput v: f32[5]\na, b, c = chunk(v, 4)\noutput a, b, c";
    assert_eq!(
        values(src, std::slice::from_ref(&v)),
        vec![
            (vec![2], vec![0., 1.]),
            (vec![2], vec![2., 3.]),
            (vec![1], vec![4.])
        ]
    );
    let src = "graph g\ninput v: f32[5]\na, b = split(v, 3)\noutput b, a";
    assert_eq!(
        values(src, std::slice::from_ref(&v)),
        vec![(vec![2], vec![3., 4.]), (vec![3], vec![0., 1., 2.])]
    );
    let src = "graph g\ninput v: f32[5]\na, b, c = split(v, [1, 0, 4])\noutput a, b, c";
    assert_eq!(
        values(src, std::slice::from_ref(&v)),
        vec![
            (vec![1], vec![0.]),
            (vec![0], vec![]),
            (vec![4], vec![1., 2., 3., 4.])
        ]
    );
    // Four names for three parts: PyTorch's unpacking would fail too.
    let src = "graph g\ninput v: f32[5]\na, b, c, d = chunk(v, 4)\noutput a";
    let err = run(src, &[v]).unwrap_err();
    assert!(err.contains("chunk(chunks=4) of a dim of size 5"), "{err}");
}

#[test]
fn narrow_slice_and_select() {
    let x = iota(&[2, 5]);
    let src = "graph g\ninput x: f32[2, 5]\nn = narrow(x, 1, -2, 2)\noutput n";
    assert_eq!(
        one(src, std::slice::from_ref(&x)),
        (vec![2, 2], vec![3., 4., 8., 9.])
    );
    // x[:, -100:4:3] is columns 0 and 3; x[:, 4:1] is empty.
    let src = "graph g\ninput x: f32[2, 5]\ns = slice(x, 1, -100, 4, 3)\noutput s";
    assert_eq!(
        one(src, std::slice::from_ref(&x)),
        (vec![2, 2], vec![0., 3., 5., 8.])
    );
    let src = "graph g\ninput x: f32[2, 5]\ns = slice(x, 1, 4, 1)\noutput s";
    assert_eq!(one(src, std::slice::from_ref(&x)), (vec![2, 0], vec![]));
    let src = "graph g\ninput x: f32[2, 5]\ns = select(x, 1, -1)\noutput s";
    assert_eq!(one(src, std::slice::from_ref(&x)), (vec![2], vec![4., 9.]));
}

#[test]
fn pad_modes() {
    let x = iota(&[1, 3]);
    let src = |args: &str| format!("graph g\ninput x: f32[1, 3]\np = pad(x, {args})\noutput p");
    assert_eq!(
        one(&src("[2, 1], value=-1.0"), std::slice::from_ref(&x)),
        (vec![1, 6], vec![-1., -1., 0., 1., 2., -1.])
    );
    assert_eq!(
        one(&src("[2, 2], mode=\"reflect\""), std::slice::from_ref(&x)),
        (vec![1, 7], vec![2., 1., 0., 1., 2., 1., 0.])
    );
    assert_eq!(
        one(&src("[2, 1], mode=\"replicate\""), std::slice::from_ref(&x)),
        (vec![1, 6], vec![0., 0., 0., 1., 2., 2.])
    );
    // Negative padding crops; a pair for the second-to-last dim pads rows.
    assert_eq!(
        one(&src("[-1, 0, 1, 0]"), std::slice::from_ref(&x)),
        (vec![2, 2], vec![0., 0., 1., 2.])
    );
}

#[test]
fn repeat_tiles_and_adds_leading_dims() {
    let x = iota(&[1, 2]);
    let src = "graph g\ninput x: f32[1, 2]\nr = repeat(x, [2, 2, 2])\noutput r";
    assert_eq!(
        one(src, &[x]),
        (
            vec![2, 2, 4],
            vec![
                0., 1., 0., 1., 0., 1., 0., 1., 0., 1., 0., 1., 0., 1., 0., 1.
            ]
        )
    );
}

/// Each refusal is PyTorch's message, and names the node.
#[test]
fn errors_are_pytorchs_and_name_the_node() {
    let x = iota(&[2, 3]);
    let y = iota(&[2, 4]);
    let cases: &[(&str, &[&Tensor], &str)] = &[
        (
            "input x: f32[2, 3]\ninput y: f32[2, 4]\nbad = cat([x, y])",
            &[&x, &y],
            "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 \
             for tensor number 1 in the list.",
        ),
        (
            "input x: f32[2, 3]\nbad = narrow(x, 1, 2, 2)",
            &[&x],
            "start (2) + length (2) exceeds dimension size (3).",
        ),
        (
            "input x: f32[2, 3]\nbad = select(x, 0, -3)",
            &[&x],
            "select(): index -3 out of range for tensor of size [2, 3] at dimension 0",
        ),
        (
            "input x: f32[2, 3]\nbad = pad(x, [3, 0], mode=\"reflect\")",
            &[&x],
            "Padding size should be less than the corresponding input dimension, but got: \
             padding (3, 0) at dimension 1 of input [2, 3]",
        ),
        (
            "input x: f32[2, 3]\nbad = pad(x, [1, 1], mode=\"reflect\", value=1.0)",
            &[&x],
            "is only meaningful for mode=\"constant\"",
        ),
        (
            "input x: f32[2, 3]\nbad = slice(x, 1, 0, 3, 0)",
            &[&x],
            "slice step must be positive",
        ),
        (
            "input x: f32[2, 3]\nbad = repeat(x, [2])",
            &[&x],
            "Number of dimensions of repeat dims can not be smaller",
        ),
        (
            "input x: bool[2, 3]\nbad = pad(x, [1, 1], mode=\"replicate\")",
            &[],
            "not implemented for 'Bool'",
        ),
        (
            "input x: f32[2, 3]\nbad = pad(x, [1, 1, 1, 1], mode=\"reflect\")",
            &[&x],
            "Padding size 4 is not supported for 2D input tensor.",
        ),
    ];
    for (body, inputs, want) in cases {
        let src = format!("graph g\n{body}\noutput bad");
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let err = run(&src, &inputs).expect_err(body);
        assert!(err.contains(want), "{body}:\n{err}\nexpected: {want}");
        assert!(err.contains("bad"), "{err} does not name the node");
    }
}

/// The printer writes every movement primitive (split/chunk parts included) so that the
/// parser reads the same graph back.
#[test]
fn printed_graphs_parse_back() {
    let src = "graph g\ninput x: f32[N, C]\na, b = chunk(x, 2, dim=1)\nc, d = split(x, [1, 2])\n\
               e = cat([a, b], dim=-1)\nf = slice(x, 1, -3, 5, 2)\ng2 = narrow(x, 0, 1, 1)\n\
               h = select(x, 1, -1)\ni = pad(x, [1, 2], value=-0.5)\nj = pad(x, [1, 0], mode=\"reflect\")\n\
               k = repeat(x, [1, 2, 3])\nl = stack([x, x], dim=2)\nm, n = split(x, 3, dim=-1)\n\
               output e, f, g2, h, i, j, k, l, c, d, m, n";
    let g = kiln_ir::parse(src).expect("parse");
    let printed = kiln_ir::print(&g);
    let back = kiln_ir::parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert!(kiln_ir::print::same_structure(&g, &back), "{printed}");
}
