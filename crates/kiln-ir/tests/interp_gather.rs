//! Reference interpreter and checks of the gather ops (index_select, gather, scatter_add,
//! index_add, embedding): hand-computed cases (values from torch 2.15), text round trips, and
//! typed errors for out-of-range, negative and wrong-dtype indices and mismatched shapes.
use kiln_ir::{DType, IrError, Tensor, interpret, parse, print};

fn run(src: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    let g = parse(src)?;
    interpret(&g, inputs)
}

fn err(src: &str, inputs: &[Tensor]) -> String {
    match run(src, inputs) {
        Ok(_) => panic!("expected an error:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
    Tensor::from_f64(DType::F32, shape, &v)
}

#[test]
fn index_select_and_gather_pick_what_torch_picks() {
    let src = "graph g\ninput x: f32[3, 4]\ninput i: i64[3]\ninput j: i64[2, 2]\n\
               input k: i64[1, 4]\na = index_select(x, 1, i)\nb = gather(x, 1, j)\n\
               c = gather(x, dim=0, index=k)\noutput a, b, c\n";
    let i = Tensor::from_i64(&[3], &[3, 0, 3]);
    let j = Tensor::from_i64(&[2, 2], &[0, 0, 3, 1]);
    let k = Tensor::from_i64(&[1, 4], &[2, 0, 1, 2]);
    let out = run(src, &[arange(&[3, 4]), i, j, k]).unwrap();
    assert_eq!(out[0].shape, [3, 3]);
    assert_eq!(
        out[0].to_f64(),
        [3.0, 0.0, 3.0, 7.0, 4.0, 7.0, 11.0, 8.0, 11.0]
    );
    assert_eq!(out[1].shape, [2, 2]);
    assert_eq!(out[1].to_f64(), [0.0, 0.0, 7.0, 5.0]);
    assert_eq!(out[2].to_f64(), [8.0, 1.0, 6.0, 11.0]);
}

#[test]
fn scatter_add_and_index_add_accumulate_repeated_indices() {
    let src = "graph g\ninput z: f32[2, 3]\ninput i: i64[2, 3]\ninput s: f32[2, 3]\n\
               input o: f32[3, 2]\ninput k: i64[3]\ninput t: f32[3, 2]\n\
               a = scatter_add(z, 1, i, s)\nb = index_add(o, 0, k, t, alpha=2)\noutput a, b\n";
    let z = Tensor::from_f64(DType::F32, &[2, 3], &[0.0; 6]);
    let i = Tensor::from_i64(&[2, 3], &[0, 0, 2, 1, 1, 1]);
    let s = Tensor::from_f64(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let o = Tensor::from_f64(DType::F32, &[3, 2], &[1.0; 6]);
    let k = Tensor::from_i64(&[3], &[2, 0, 2]);
    let t = Tensor::from_f64(DType::F32, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = run(src, &[z, i, s, o, k, t]).unwrap();
    assert_eq!(out[0].to_f64(), [3.0, 0.0, 3.0, 0.0, 15.0, 0.0]);
    assert_eq!(out[1].to_f64(), [7.0, 9.0, 1.0, 1.0, 13.0, 17.0]);
}

#[test]
fn embedding_takes_indices_first_and_keeps_their_shape() {
    let src = "graph g\ninput i: i64[2, 2]\ninput w: f64[3, 2]\ne = embedding(i, w)\n\
               p = embedding(i, w, padding_idx=-1)\noutput e, p\n";
    let i = Tensor::from_i64(&[2, 2], &[2, 0, 1, 1]);
    let w = Tensor::from_f64(DType::F64, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let out = run(src, &[i, w]).unwrap();
    assert_eq!(out[0].shape, [2, 2, 2]);
    assert_eq!(out[0].dtype, DType::F64);
    assert_eq!(out[0].to_f64(), [4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0]);
    // padding_idx changes only the gradient.
    assert_eq!(out[1].to_f64(), out[0].to_f64());
}

#[test]
fn zero_d_inputs_and_indices_work_as_in_torch() {
    let src = "graph g\ninput x: f32[]\ninput i: i64[1]\ninput j: i64[]\n\
               a = index_select(x, 0, i)\nb = gather(x, 0, j)\noutput a, b\n";
    let x = Tensor::from_f64(DType::F32, &[], &[5.0]);
    let out = run(
        src,
        &[x, Tensor::from_i64(&[1], &[0]), Tensor::from_i64(&[], &[0])],
    )
    .unwrap();
    assert_eq!((out[0].shape.clone(), out[0].to_f64()), (vec![], vec![5.0]));
    assert_eq!((out[1].shape.clone(), out[1].to_f64()), (vec![], vec![5.0]));
}

#[test]
fn out_of_range_and_negative_indices_name_the_node_the_value_and_the_dim_size() {
    let src = "graph g\ninput x: f32[3, 4]\ninput i: i64[2]\ns = index_select(x, 0, i)\noutput s\n";
    for (bad, text) in [(3, "index 3 "), (-1, "index -1 ")] {
        let e = err(src, &[arange(&[3, 4]), Tensor::from_i64(&[2], &[0, bad])]);
        assert!(e.contains("node `s` (index_select)"), "{e}");
        assert!(e.contains(text), "{e}");
        assert!(e.contains("dimension 0 with size 3"), "{e}");
    }
    let src = "graph g\ninput x: f32[3, 4]\ninput j: i64[1, 1]\ng1 = gather(x, 1, j)\noutput g1\n";
    let e = err(src, &[arange(&[3, 4]), Tensor::from_i64(&[1, 1], &[4])]);
    assert!(
        e.contains("g1") && e.contains("index 4 is out of bounds for dimension 1 with size 4"),
        "{e}"
    );
    let src = "graph g\ninput i: i64[1]\ninput w: f32[3, 2]\ne = embedding(i, w)\noutput e\n";
    let e = err(src, &[Tensor::from_i64(&[1], &[7]), arange(&[3, 2])]);
    assert!(e.contains("index 7") && e.contains("size 3"), "{e}");
}

#[test]
fn wrong_dtypes_ranks_and_sizes_are_typed_errors() {
    let cases = [
        (
            "graph g\ninput x: f32[3, 4]\ninput i: f32[2]\ns = index_select(x, 0, i)\noutput s\n",
            "expected an int64 index tensor, found f32",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[2, 2]\ns = index_select(x, 0, i)\noutput s\n",
            "index is supposed to be a vector",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[2]\ns = gather(x, 1, i)\noutput s\n",
            "same number of dimensions",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[1, 5]\ns = gather(x, 0, i)\noutput s\n",
            "no larger than self [3, 4] apart from dimension 0",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[3, 4]\ninput s: f64[3, 4]\n\
             y = scatter_add(x, 0, i, s)\noutput y\n",
            "expected src to have the input's dtype f32, found f64",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[2, 4]\ninput s: f32[1, 4]\n\
             y = scatter_add(x, 0, i, s)\noutput y\n",
            "no larger than src",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[2]\ninput s: f32[3, 4]\n\
             y = index_add(x, 0, i, s)\noutput y\n",
            "source has shape [3, 4]",
        ),
        (
            "graph g\ninput i: i64[2]\ninput w: f32[3, 2]\ne = embedding(w, i)\noutput e\n",
            "expected int64 indices (the first argument), found f32",
        ),
        (
            "graph g\ninput i: i64[2]\ninput w: f32[3, 2]\ne = embedding(i, w, padding_idx=3)\n\
             output e\n",
            "padding_idx=3 must be within the 3 rows",
        ),
        (
            "graph g\ninput x: f32[3, 4]\ninput i: i64[2]\ns = index_select(x, 2, i)\noutput s\n",
            "dim 2 is out of range",
        ),
    ];
    for (src, want) in cases {
        let e = match parse(src) {
            Err(e) => e.to_string(),
            Ok(g) => {
                // Zero inputs of the declared (all fixed) shapes.
                let inputs: Vec<Tensor> = g
                    .inputs()
                    .iter()
                    .map(|d| {
                        let shape: Vec<usize> = d
                            .dims
                            .iter()
                            .map(|x| match x {
                                kiln_shape::Dim::Fixed(v) => *v as usize,
                                _ => panic!("fixed dims only"),
                            })
                            .collect();
                        Tensor::zeros(d.dtype, &shape)
                    })
                    .collect();
                match interpret(&g, &inputs) {
                    Err(e) => e.to_string(),
                    Ok(_) => panic!("expected an error for:\n{src}"),
                }
            }
        };
        assert!(e.contains(want), "{e}\nwanted: {want}");
    }
}

#[test]
fn the_text_form_round_trips() {
    let src = "graph g\ninput x: f32[N, 4]\ninput i: i64[K]\ninput j: i64[N, 2]\ninput s: f32[N, 2]\n\
               input t: f32[N, K]\na = index_select(x, 1, i)\nb = gather(x, 1, j)\n\
               c = scatter_add(x, 1, j, s)\nd = index_add(x, -1, i, t, alpha=0.5)\n\
               e = embedding(j, x, padding_idx=0)\noutput a, b, c, d, e\n";
    let g = parse(src).unwrap();
    let printed = print(&g);
    let again = parse(&printed).unwrap();
    assert_eq!(print(&again), printed);
    assert!(
        printed.contains("index_add(x, -1, i, t, alpha=0.5)"),
        "{printed}"
    );
    assert!(
        printed.contains("embedding(j, x, padding_idx=0)"),
        "{printed}"
    );
}

#[test]
fn max_pool2d_return_indices_gives_torchs_flat_plane_indices() {
    let src = "graph g\ninput x: f32[1, 1, 4, 5]\nv, i = max_pool2d(x, 2, return_indices=true)\n\
               w, j = max_pool2d(x, 3, stride=2, padding=1, return_indices=true)\n\
               u, k = max_pool2d(x, 2, stride=1, dilation=2, ceil_mode=true, return_indices=true)\n\
               y = max_pool2d(x, 2)\noutput v, i, w, j, u, k, y\n";
    let x = Tensor::from_f64(
        DType::F32,
        &[1, 1, 4, 5],
        &[
            1.0, 3.0, 3.0, 0.0, 2.0, 4.0, 0.0, 4.0, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 0.0, 0.0, 1.0,
            0.0, 7.0, 7.0,
        ],
    );
    let out = run(src, &[x]).unwrap();
    // Values from torch.nn.functional.max_pool2d(..., return_indices=True).
    assert_eq!(out[0].to_f64(), [4.0, 4.0, 2.0, 7.0]);
    assert_eq!(out[1].dtype, DType::I64);
    assert_eq!(out[1].to_i64().unwrap(), [5, 7, 10, 18]);
    assert_eq!(out[3].to_i64().unwrap(), [5, 7, 4, 5, 18, 18]);
    assert_eq!(out[4].to_f64(), [5.0, 5.0, 5.0, 4.0, 7.0, 7.0]);
    assert_eq!(out[5].to_i64().unwrap(), [12, 13, 12, 5, 18, 19]);
    assert_eq!(out[6].to_f64(), out[0].to_f64());
    let printed = print(&parse(src).unwrap());
    assert!(printed.contains("i = max_pool2d_indices(x"), "{printed}");
    assert_eq!(print(&parse(&printed).unwrap()), printed);
}
