//! Which kernels may run as a convolution's or GEMM's epilogue (`Program::library_epilogue`), and the
//! lifetimes of temporaries (`Program::temp_lifetimes`, `temp_lifetimes_with`).
use kiln_sched::{BufKind, LibraryCall, Program, Step};

mod common;
use common::lower;

/// The step index of every library call that `is_kind` accepts and what `library_epilogue`
/// says of it.
fn epilogues_of(p: &Program, is_kind: fn(&LibraryCall) -> bool) -> Vec<(usize, Option<usize>)> {
    p.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Library(c) if is_kind(c)))
        .map(|(at, _)| (at, p.library_epilogue(at)))
        .collect()
}

/// Every convolution's step index and epilogue.
fn epilogues(p: &Program) -> Vec<(usize, Option<usize>)> {
    epilogues_of(p, |c| matches!(c, LibraryCall::Conv(_)))
}

const SHAPES: [&[i64]; 4] = [&[2, 3, 8, 8], &[4, 3, 3, 3], &[4], &[2, 4, 8, 8]];

#[test]
fn bias_activation_and_residual_run_as_the_epilogue() {
    let src = "graph c\ninput x: f32[N, 3, H, W]\ninput w: f32[4, 3, 3, 3]\ninput b: f32[4]\n\
               input r: f32[N, 4, H, W]\ny = conv2d(x, w, b, padding=1)\nz = clamp(y, 0.0, 6.0)\n\
               o = add(z, r)\noutput o\n";
    let p = lower(src, &SHAPES);
    let found = epilogues(&p);
    assert_eq!(found.len(), 1, "{p}");
    let (at, kernel) = found[0];
    let Some(Step::Kernel(next)) = p.steps.get(at + 1) else {
        panic!("no kernel after the convolution:\n{p}");
    };
    assert_eq!(kernel, Some(*next), "{p}");
}

#[test]
fn a_kernel_reading_other_points_of_the_output_is_no_epilogue() {
    // The product reads the output at its point and at the transposed one; the sum reduces
    // over it.
    for tail in [
        "t = transpose(y, 2, 3)\nz = mul(y, t)\noutput z\n",
        "z = sum(y, [1])\noutput z\n",
        "t = transpose(y, 2, 3)\nz = relu(t)\noutput z\n",
    ] {
        let src = format!(
            "graph c\ninput x: f32[N, 3, 8, 8]\ninput w: f32[4, 3, 3, 3]\n\
             y = conv2d(x, w, padding=1)\n{tail}"
        );
        let p = lower(&src, &SHAPES[..2]);
        for (_, kernel) in epilogues(&p) {
            assert_eq!(kernel, None, "{tail}\n{p}");
        }
    }
}

#[test]
fn joined_steps_keep_their_temporaries_apart() {
    // relu(x) -> conv1 -> relu (epilogue) -> conv2: conv1's input `a` dies at conv1, the
    // epilogue's output `r` is born in the next step; joined, the two steps are one, so `a` and
    // `r` must not share memory (the epilogue writes `r` while conv1 still reads `a`).
    let src = "graph c\ninput x: f32[1, 3, 8, 8]\ninput w: f32[3, 3, 3, 3]\na = relu(x)\n\
               y = conv2d(a, w, padding=1)\nr = relu(y)\nz = conv2d(r, w, padding=1)\noutput z\n";
    let p = lower(src, &[&[1, 3, 8, 8], &[3, 3, 3, 3]]);
    let joined: Vec<usize> = epilogues(&p)
        .into_iter()
        .filter(|(_, k)| k.is_some())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(joined.len(), 1, "{p}");
    let conv1 = joined[0];
    let Some(Step::Library(call)) = p.steps.get(conv1) else {
        panic!("{p}");
    };
    let LibraryCall::Conv(conv) = &**call else {
        panic!("{p}");
    };
    let Some(Step::Library(next)) = p.steps.get(conv1 + 2) else {
        panic!("{p}");
    };
    let LibraryCall::Conv(conv2) = &**next else {
        panic!("{p}");
    };
    let (a, r) = (conv.x, conv2.x);
    assert_eq!(p.buffers[a as usize].kind, BufKind::Temp, "{p}");
    let span = |l: &[kiln_sched::Lifetime], b: u32| {
        let l = l.iter().find(|x| x.buf == b).expect("a lifetime");
        (l.first, l.last)
    };
    let (plain, with) = (p.temp_lifetimes(), p.temp_lifetimes_with(&joined));
    assert_eq!(span(&plain, a), (conv1 - 1, conv1), "{p}");
    assert_eq!(span(&plain, r), (conv1 + 1, conv1 + 2), "{p}");
    // Joined, `r` is born at the convolution's step, while `a` is still read.
    assert_eq!(span(&with, a), (conv1 - 1, conv1), "{p}");
    assert_eq!(span(&with, r).0, conv1, "{p}");
}

/// Every GEMM's step index and epilogue.
fn gemm_epilogues(p: &Program) -> Vec<(usize, Option<usize>)> {
    epilogues_of(p, |c| matches!(c, LibraryCall::Gemm(_)))
}

#[test]
fn a_linear_layers_bias_and_activation_run_as_the_gemms_epilogue() {
    let src = "graph l\ninput x: f32[N, 8]\ninput w: f32[6, 8]\ninput b: f32[6]\n\
               y = linear(x, w, b)\nz = gelu(y)\noutput z\n";
    let p = lower(src, &[&[5, 8], &[6, 8], &[6]]);
    let found = gemm_epilogues(&p);
    assert_eq!(found.len(), 1, "{p}");
    let (at, kernel) = found[0];
    let Some(Step::Kernel(next)) = p.steps.get(at + 1) else {
        panic!("no kernel after the GEMM:\n{p}");
    };
    assert_eq!(kernel, Some(*next), "{p}");
    assert!(
        p.to_string().contains("the epilogue of the GEMM before it"),
        "{p}"
    );
}

#[test]
fn a_kernel_reading_the_product_transposed_or_reduced_is_no_gemm_epilogue() {
    for tail in [
        "t = transpose(y, 0, 1)\nz = relu(t)\noutput z\n",
        "z = sum(y, [1])\noutput z\n",
    ] {
        let src =
            format!("graph l\ninput x: f32[6, 8]\ninput w: f32[8, 6]\ny = matmul(x, w)\n{tail}");
        let p = lower(&src, &[&[6, 8], &[8, 6]]);
        for (_, kernel) in gemm_epilogues(&p) {
            assert_eq!(kernel, None, "{tail}\n{p}");
        }
    }
}
