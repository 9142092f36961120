//! The convolution rules (`vjp/conv.rs`) against central differences on the interpreter, in
//! f64: conv1d/conv2d with stride, asymmetric padding, dilation and groups (the input
//! gradient, the weight gradient, each alone and both), conv_transpose2d with stride, padding,
//! output_padding, dilation and groups, and conv2d with a bias (whose gradient is the add's).
mod common;

use common::{Lcg, check_random};
use kiln_grad::{GradSpec, grad};
use kiln_ir::{NodeKind, parse};

fn draw() -> impl FnMut() -> f64 {
    let mut r = Lcg(7);
    move || r.away_from_zero()
}

#[test]
fn conv2d_strided_padded_dilated_grouped() {
    let text = "graph g\ninput x: f64[2, 4, 7, 6]\ninput w: f64[6, 2, 3, 2]\n\
                y = convolution(x, w, stride=[2, 1], padding=[1, 2, 0, 1], dilation=[1, 2], \
                groups=2)\nz = mul(y, y)\noutput z\n";
    let shapes = [vec![2, 4, 7, 6], vec![6, 2, 3, 2]];
    check_random(text, "z", &["x", "w"], &shapes, &mut draw());
    check_random(text, "z", &["x"], &shapes, &mut draw());
    check_random(text, "z", &["w"], &shapes, &mut draw());
}

#[test]
fn conv1d_and_depthwise() {
    let text = "graph g\ninput x: f64[3, 2, 9]\ninput w: f64[4, 1, 3]\n\
                y = conv1d(x, w, stride=2, padding=1, groups=2)\nz = sin(y)\noutput z\n";
    check_random(
        text,
        "z",
        &["x", "w"],
        &[vec![3, 2, 9], vec![4, 1, 3]],
        &mut draw(),
    );
}

#[test]
fn conv2d_with_bias_and_same_padding() {
    let text = "graph g\ninput x: f64[1, 2, 5, 6]\ninput w: f64[3, 2, 4, 3]\ninput b: f64[3]\n\
                y = conv2d(x, w, b, padding=\"same\")\nz = mul(y, y)\noutput z\n";
    let shapes = [vec![1, 2, 5, 6], vec![3, 2, 4, 3], vec![3]];
    check_random(text, "z", &["x", "w", "b"], &shapes, &mut draw());
}

#[test]
fn conv_transpose2d_full_options() {
    let text = "graph g\ninput x: f64[2, 4, 3, 4]\ninput w: f64[4, 3, 3, 2]\n\
                y = conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2, \
                dilation=2)\nz = mul(y, y)\noutput z\n";
    let shapes = [vec![2, 4, 3, 4], vec![4, 3, 3, 2]];
    check_random(text, "z", &["x", "w"], &shapes, &mut draw());
}

#[test]
fn conv_transpose2d_strided_asymmetric_stride() {
    let text = "graph g\ninput x: f64[1, 2, 4, 3]\ninput w: f64[2, 2, 2, 3]\n\
                y = conv_transpose2d(x, w, stride=[3, 2], output_padding=[2, 1])\n\
                z = sin(y)\noutput z\n";
    check_random(
        text,
        "z",
        &["x", "w"],
        &[vec![1, 2, 4, 3], vec![2, 2, 2, 3]],
        &mut draw(),
    );
}

/// Only what `needs` asks for is built: the gradient of x alone adds no weight gradient.
#[test]
fn only_the_requested_gradients_are_built() {
    let text = "graph g\ninput x: f64[1, 2, 5, 5]\ninput w: f64[3, 2, 3, 3]\n\
                y = convolution(x, w, stride=[1, 1])\noutput y\n";
    let g = parse(text).expect("parses");
    let joint = grad(&g, &GradSpec::sum_of("y", &["x"])).expect("builds");
    let names: Vec<&str> = joint
        .node_ids()
        .filter_map(|id| match &joint.node(id).kind {
            NodeKind::Op(op) => Some(op.name()),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"convolution_backward_input"), "{names:?}");
    assert!(!names.contains(&"convolution_backward_weight"), "{names:?}");
}

/// A conv_transpose2d whose output_padding is allowed only by its dilation has no rule: a
/// typed error naming the node, not a wrong gradient.
#[test]
fn conv_transpose_output_padding_beyond_stride_is_refused() {
    let text = "graph g\ninput x: f64[1, 1, 3, 3]\ninput w: f64[1, 1, 2, 2]\n\
                y = conv_transpose2d(x, w, output_padding=1, dilation=2)\noutput y\n";
    let g = parse(text).expect("parses");
    let err = grad(&g, &GradSpec::sum_of("y", &["x"]))
        .expect_err("no rule")
        .to_string();
    assert!(err.contains("y") && err.contains("output_padding"), "{err}");
}
