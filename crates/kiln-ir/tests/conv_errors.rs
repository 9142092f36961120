//! Convolution refusals: typed errors naming the node, the operand and the sizes, worded as
//! PyTorch words them where reasonable; never a panic.
use kiln_ir::{DType, Tensor, interpret, parse};

/// The error of interpreting `call` on zero inputs of these shapes (declared f32 unless a
/// dtype is given in `decls`).
fn error(decls: &str, call: &str, shapes: &[&[usize]], dtypes: &[DType]) -> String {
    let src = format!("graph e\n{decls}\ny = {call}\noutput y\n");
    let g = match parse(&src) {
        Ok(g) => g,
        Err(e) => return e.to_string(),
    };
    let inputs: Vec<Tensor> = shapes
        .iter()
        .zip(dtypes)
        .map(|(s, &d)| Tensor::zeros(d, s))
        .collect();
    interpret(&g, &inputs).expect_err("refused").to_string()
}

const XW: &str = "input x: f32[N, C, H, W]\ninput w: f32[O, I, K, L]";
const F32: [DType; 2] = [DType::F32, DType::F32];

#[test]
fn channel_mismatch_names_both_shapes() {
    let e = error(XW, "conv2d(x, w)", &[&[1, 3, 5, 5], &[4, 4, 3, 3]], &F32);
    assert_eq!(
        e,
        "node `y` (convolution): conv2d: input has 3 channels but weight expects 4 \
         (groups=1); input [1, 3, 5, 5], weight [4, 4, 3, 3]"
    );
}

#[test]
fn groups_must_divide_the_output_channels() {
    let e = error(
        XW,
        "conv2d(x, w, groups=2)",
        &[&[1, 4, 5, 5], &[3, 2, 3, 3]],
        &F32,
    );
    assert!(
        e.ends_with("conv2d: weight has 3 output channels, which is not divisible by groups=2"),
        "{e}"
    );
}

#[test]
fn kernel_larger_than_the_padded_input() {
    let e = error(
        XW,
        "conv2d(x, w, padding=[0, 1])",
        &[&[1, 1, 2, 5], &[1, 1, 3, 3]],
        &F32,
    );
    assert!(e.contains("padded input size per channel (2)"), "{e}");
    assert!(
        e.contains("dilated kernel size (3) in spatial dim 0"),
        "{e}"
    );
}

#[test]
fn dtypes_and_ranks_and_arguments() {
    let mixed = "input x: f32[1, 1, 3, 3]\ninput w: f64[1, 1, 3, 3]";
    let e = error(
        mixed,
        "conv2d(x, w)",
        &[&[1, 1, 3, 3], &[1, 1, 3, 3]],
        &[DType::F32, DType::F64],
    );
    assert!(
        e.ends_with("conv2d: input type (f32) and weight type (f64) should be the same"),
        "{e}"
    );
    let e = error(
        "input x: f32[2, 3]\ninput w: f32[1, 1, 3, 3]",
        "conv2d(x, w)",
        &[&[2, 3], &[1, 1, 3, 3]],
        &F32,
    );
    assert!(
        e.contains("expected a 3-d (unbatched) or 4-d (batched) input, found rank 2"),
        "{e}"
    );
    let e = error(XW, "conv2d(x, w, stride=2, padding=\"same\")", &[], &[]);
    assert!(
        e.contains("padding='same' is not supported for strided convolutions"),
        "{e}"
    );
    let e = error(XW, "conv2d(x, w, padding=\"full\")", &[], &[]);
    assert!(e.contains("must be \"same\" or \"valid\""), "{e}");
    let e = error(
        XW,
        "conv2d(x, w, stride=0)",
        &[&[1, 1, 3, 3], &[1, 1, 3, 3]],
        &F32,
    );
    assert!(
        e.ends_with("conv2d: stride must be positive, found 0"),
        "{e}"
    );
    let e = error(XW, "conv2d(x, w, dilation=[1, 2, 3])", &[], &[]);
    assert!(
        e.contains("dilation must have 1 or 2 entries, found 3"),
        "{e}"
    );
    let e = error(
        XW,
        "conv_transpose2d(x, w, stride=2, output_padding=2)",
        &[&[1, 1, 3, 3], &[1, 1, 3, 3]],
        &F32,
    );
    assert!(
        e.contains("output padding must be smaller than either stride or dilation"),
        "{e}"
    );
}

#[test]
fn same_padding_needs_a_static_kernel() {
    let e = error(XW, "conv2d(x, w, padding=\"same\")", &[], &[]);
    assert!(
        e.contains("padding='same' needs the weight's kernel size"),
        "{e}"
    );
}

#[test]
fn primitive_text_forms_round_trip() {
    let src = "graph r\ninput x: f32[N, 4, H, W]\ninput w: f32[6, 2, 3, 4]\ninput v: f32[4, 3, 2, 2]\n\
               y = conv2d(x, w, padding=\"same\", dilation=[2, 1], groups=2)\n\
               z = conv_transpose2d(x, v, stride=2, padding=1, output_padding=1, groups=2)\n\
               output y, z\n";
    let g = parse(src).unwrap();
    let printed = kiln_ir::print::print(&g);
    assert!(
        printed.contains(
            "convolution(x, w, stride=[1, 1], padding=[2, 2, 1, 2], dilation=[2, 1], groups=2)"
        ),
        "{printed}"
    );
    assert!(printed.contains("convolution_transpose2d(x, v, stride=[2, 2], padding=[1, 1], output_padding=[1, 1], groups=2)"), "{printed}");
    let again = parse(&printed).unwrap();
    assert_eq!(kiln_ir::print::print(&again), printed);
}
