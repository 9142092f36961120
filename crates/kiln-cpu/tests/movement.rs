//! Data movement ops (cat, stack, split/chunk, narrow, slice, select, pad, repeat) compiled
//! for the CPU against the reference interpreter, every dtype, static and dynamic shapes.
mod common;

use common::*;
use kiln_ir::{DType, Tensor};
use kiln_shape::Policy;

const DTYPES: [DType; 5] = [DType::F32, DType::F64, DType::F16, DType::BF16, DType::Bool];

/// (name, graph body with `D` for the dtype, input shapes)
const CASES: &[(&str, &str, &[&[usize]])] = &[
    (
        "cat0",
        "input x: D[N, 3]\ninput y: D[M, 3]\nc = cat([x, y])\noutput c",
        &[&[4, 3], &[2, 3]],
    ),
    (
        "cat1_three",
        "input x: D[N, A]\ninput y: D[N, B]\nc = cat([x, y, x], dim=-1)\noutput c",
        &[&[3, 2], &[3, 5]],
    ),
    (
        "stack",
        "input x: D[N, C]\ninput y: D[N, C]\ns = stack([x, y], dim=1)\noutput s",
        &[&[3, 4], &[3, 4]],
    ),
    (
        "chunk",
        "input x: D[N, C]\na, b, c = chunk(x, 3, dim=1)\noutput a, b, c",
        &[&[2, 8]],
    ),
    (
        "split_size",
        "input x: D[N, C]\na, b, c = split(x, 2)\noutput c, a, b",
        &[&[5, 3]],
    ),
    (
        "split_sections",
        "input x: D[N, C]\na, b = split(x, [1, 4], dim=0)\noutput a, b",
        &[&[5, 3]],
    ),
    (
        "narrow",
        "input x: D[N, C]\nn = narrow(x, 1, -3, 2)\noutput n",
        &[&[3, 6]],
    ),
    (
        "slice_step",
        "input x: D[N, C]\ns = slice(x, dim=1, start=1, end=-1, step=2)\nt = slice(s, dim=0, step=3)\noutput t",
        &[&[7, 9]],
    ),
    (
        "slice_clamped",
        "input x: D[N, C]\ns = slice(x, dim=1, start=-100, end=100)\nt = slice(s, 0, 5)\noutput t",
        &[&[3, 4]],
    ),
    (
        "select",
        "input x: D[N, C, H]\ns = select(x, 1, -1)\nt = select(s, 0, 1)\noutput t",
        &[&[2, 3, 4]],
    ),
    (
        "pad_constant",
        "input x: D[N, C, W]\np = pad(x, [1, 2, 0, 1], value=1.5)\noutput p",
        &[&[2, 3, 4]],
    ),
    (
        "pad_negative",
        "input x: D[N, W]\np = pad(x, [-1, 2, 1, -2])\noutput p",
        &[&[4, 5]],
    ),
    (
        "pad_crop_past_the_input",
        "input x: D[N, W]\np = pad(x, [-3, 5, 0, 1], value=2.0)\noutput p",
        &[&[3, 2]],
    ),
    (
        "pad_reflect",
        "input x: D[N, C, H, W]\np = pad(x, [2, 1, 1, 2], mode=\"reflect\")\noutput p",
        &[&[2, 2, 4, 5]],
    ),
    (
        "pad_replicate",
        "input x: D[N, C, W]\np = pad(x, [2, 3], mode=\"replicate\")\noutput p",
        &[&[2, 3, 4]],
    ),
    (
        "repeat",
        "input x: D[N, C]\nr = repeat(x, [2, 1, 3])\noutput r",
        &[&[3, 4]],
    ),
];

fn inputs(dtype: DType, shapes: &[&[usize]]) -> Vec<Tensor> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| tensor(dtype, s, 40 + i as u64, -3.0, 3.0))
        .collect()
}

#[test]
fn every_op_and_dtype_static_and_dynamic() {
    for &(name, body, shapes) in CASES {
        for dtype in DTYPES {
            let non_constant_pad = body.contains("mode=");
            if dtype == DType::Bool && non_constant_pad {
                continue; // PyTorch has no bool reflect/replicate padding (a typed error).
            }
            let src = format!("graph {name}\n{}", body.replace("D[", &format!("{dtype}[")));
            let xs = inputs(dtype, shapes);
            for policy in [Policy::Static, Policy::Dynamic] {
                check_with(&src, &xs, &policy);
            }
        }
    }
}

/// Producers fuse into the movement ops' kernels and consumers read them at rewritten
/// indices; cat mixes dtypes (promoted as torch.cat does).
#[test]
fn fused_with_elementwise_and_mixed_dtypes() {
    let srcs = [
        "graph f\ninput x: f32[N, C]\ninput y: f16[N, D]\na = exp(x)\nc = cat([a, y], dim=1)\nd = mul(c, 2.0)\noutput d",
        "graph f\ninput x: f32[N, C]\na = sigmoid(x)\np = pad(a, [1, 1, 2, 0], value=-1.0)\nq = add(p, 1.0)\noutput q",
        "graph f\ninput x: f32[N, C]\nr = repeat(x, [2, 2])\ns = slice(r, dim=1, start=1, step=3)\nt = sum(s, dim=1)\noutput t",
        "graph f\ninput x: f32[N, C]\ns = sum(x, dim=1, keepdim=true)\nc = cat([s, x], dim=1)\noutput c",
        "graph f\ninput x: f32[N, C]\na, b = chunk(x, 2, dim=1)\nc = mul(a, b)\noutput c",
    ];
    let x = tensor(DType::F32, &[5, 6], 7, -2.0, 2.0);
    let y = tensor(DType::F16, &[5, 3], 8, -2.0, 2.0);
    for src in srcs {
        let xs: Vec<Tensor> = if src.contains("input y") {
            vec![x.clone(), y.clone()]
        } else {
            vec![x.clone()]
        };
        for policy in [Policy::Static, Policy::Dynamic] {
            check_with(src, &xs, &policy);
        }
    }
}

/// One program compiled for symbolic sizes runs at other sizes that satisfy its guards.
#[test]
fn one_dynamic_program_serves_other_sizes() {
    let src = "graph d\ninput x: f32[N, C]\ninput y: f32[M, C]\nc = cat([x, y])\n\
               p = pad(c, [1, 2], mode=\"reflect\")\nr = repeat(p, [1, 2])\noutput r";
    let g = parse(src);
    let first = [
        tensor(DType::F32, &[3, 4], 1, -1.0, 1.0),
        tensor(DType::F32, &[2, 4], 2, -1.0, 1.0),
    ];
    let (compiled, _) = compile(&g, &first, &Policy::Dynamic);
    for (n, m, c) in [(3, 2, 4), (5, 7, 4), (2, 9, 6)] {
        let xs = [
            tensor(DType::F32, &[n, c], 3, -1.0, 1.0),
            tensor(DType::F32, &[m, c], 4, -1.0, 1.0),
        ];
        compare(&g, &compiled, &xs, &format!("N={n} M={m} C={c}"));
    }
}
