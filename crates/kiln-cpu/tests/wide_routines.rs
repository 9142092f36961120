//! The wide tile routines (`math::wide`) give the bits of the 128-bit emitters they replace,
//! and tiled kernels the bits of untiled ones, artifacts included.
//!
//! On a host without AVX2 and FMA the tests print that they were skipped and pass; the
//! comparison of the AVX2 and AVX-512 routines needs a host with both.

mod common;
mod math_harness;

use cranelift_codegen::ir::types::F32;
use kiln_cpu::math::{self, wide::Routine};
use kiln_cpu::{RelocTarget, math::wide};
use kiln_ir::Tensor;
use kiln_shape::Policy;
use math_harness::{Pair, f32_inputs};

fn skip() -> bool {
    if wide::enabled() {
        return false;
    }
    eprintln!("skipped: no wide tile routines on this host (needs AVX2 and FMA)");
    true
}

/// Asserts that `routine` gives the 128-bit kernel's bits on every input.
fn assert_same_bits(routine: Routine, pair: &Pair, inputs: &[f32]) {
    let want: Vec<f32> = pair.run(inputs, inputs);
    let got = routine.apply(inputs).expect("routine runs where enabled");
    for (k, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(
            w.to_bits() == g.to_bits() || (w.is_nan() && g.is_nan()),
            "{routine:?} at {:e} (element {k}): 128-bit {:#x}, wide {:#x}",
            inputs[k],
            w.to_bits(),
            g.to_bits()
        );
    }
}

#[test]
fn exp_sigmoid_and_tanh_routines_match_the_emitters_bit_for_bit() {
    if skip() {
        return;
    }
    let cases: [(Routine, Pair, f64); 3] = [
        (
            Routine::Exp,
            Pair::new(F32, F32, 1, |b, a| math::exp(b, a[0])),
            120.0,
        ),
        (
            Routine::Sigmoid,
            Pair::new(F32, F32, 1, |b, a| math::sigmoid(b, a[0])),
            120.0,
        ),
        (
            Routine::Tanh,
            Pair::new(F32, F32, 1, |b, a| math::tanh(b, a[0])),
            12.0,
        ),
    ];
    for (seed, (routine, pair, range)) in cases.into_iter().enumerate() {
        let inputs = f32_inputs(100_000, 100_000, -range, range, 40 + seed as u64);
        assert_same_bits(routine, &pair, &inputs);
    }
}

#[test]
fn the_nonnegative_sigmoid_routine_matches_on_relu_outputs() {
    if skip() {
        return;
    }
    let pair = Pair::new(F32, F32, 1, |b, a| math::sigmoid_nonnegative(b, a[0]));
    let inputs: Vec<f32> = f32_inputs(100_000, 100_000, 0.0, 40.0, 7)
        .into_iter()
        .map(|x| if x < 0.0 { -x } else { x })
        .collect();
    assert_same_bits(Routine::SigmoidNonnegative, &pair, &inputs);
}

#[test]
fn every_tile_level_gives_the_same_bits_for_every_routine() {
    let levels = wide::host_levels();
    if levels.len() < 2 {
        eprintln!("skipped: this host runs fewer than two tile levels ({levels:?})");
        return;
    }
    // Wide range plus the special values; a length that is a multiple of 8 but not of 16
    // (the AVX-512 routines' masked last 8).
    let mut inputs = f32_inputs(50_000, 50_000, -120.0, 120.0, 11);
    inputs.extend([
        0.0,
        -0.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE / 4.0,
        f32::MAX,
    ]);
    inputs.truncate(inputs.len() / 16 * 16 - 8);
    for routine in Routine::ALL {
        let results: Vec<Vec<f32>> = levels
            .iter()
            .map(|&l| routine.apply_at(l, &inputs).expect("a host level runs"))
            .collect();
        for (k, x) in inputs.iter().enumerate() {
            let (a, b) = (results[0][k], results[1][k]);
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{routine:?} at {x:e}: {:?} {:#x}, {:?} {:#x}",
                levels[0],
                a.to_bits(),
                levels[1],
                b.to_bits()
            );
        }
    }
}

/// `f(x)` compiled for `shape`, run on `xs`, with the program's artifact.
fn run_unary(op: &str, xs: &[f32], shape: &[usize]) -> (Vec<f32>, kiln_cpu::CpuArtifact) {
    let dims: Vec<String> = (0..shape.len()).map(|d| format!("D{d}")).collect();
    let call = match op {
        "gelu_tanh" => "gelu(h, approximate=\"tanh\")".to_string(),
        _ => format!("{op}(h)"),
    };
    // `z` (zeros, broadcast along the rows) keeps the rows from being collapsed into one.
    let z_dims = format!("{}, 1", dims[..dims.len() - 1].join(", "));
    let src = format!(
        "graph g\ninput x: f32[{}]\ninput z: f32[{z_dims}]\nh = mul(x, 3.0)\ny = {call}\n\
         d = sub(y, x)\nout = add(d, z)\noutput out\n",
        dims.join(", ")
    );
    let g = common::parse(&src);
    let x = Tensor::from_f32(shape, xs);
    let z = Tensor::from_f32(&[shape[0], 1], &vec![0.0; shape[0]]);
    let inputs = [x, z];
    let (compiled, artifact) = common::compile(&g, &inputs, &Policy::Static);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let out = compiled.run(&refs).expect("run");
    let reloaded = kiln_cpu::load(artifact.clone()).expect("the artifact loads");
    let again = reloaded.run(&refs).expect("run the loaded artifact");
    let (a, b) = (out[0].to_f32(), again[0].to_f32());
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "{op}: the loaded artifact computes other bits"
    );
    (a, artifact)
}

fn calls_a_routine(artifact: &kiln_cpu::CpuArtifact) -> bool {
    artifact
        .kernels
        .iter()
        .flat_map(|k| &k.relocs)
        .any(|r| matches!(r.target, RelocTarget::Routine(_)))
}

#[test]
fn tiled_rows_compute_the_bits_of_untiled_rows_for_every_routine_op() {
    if skip() {
        return;
    }
    // 7 rows of 1,000 columns (15 tiles, then vectors and a scalar tail) against 1,000 rows
    // of 7 (shorter than a tile: vectors and tails only), on the same values.
    let xs: Vec<f32> = common::values(7000, 3, -12.0, 12.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    for op in ["exp", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh"] {
        let (tiled, artifact) = run_unary(op, &xs, &[7, 1000]);
        assert!(
            calls_a_routine(&artifact),
            "{op}: no kernel calls a routine"
        );
        let (plain, plain_artifact) = run_unary(op, &xs, &[1000, 7]);
        assert!(
            !calls_a_routine(&plain_artifact),
            "{op}: rows of 7 are tiled"
        );
        for (k, (t, p)) in tiled.iter().zip(&plain).enumerate() {
            assert!(
                t.to_bits() == p.to_bits() || (t.is_nan() && p.is_nan()),
                "{op} at x = {}: tiled {t:e}, untiled {p:e}",
                xs[k]
            );
        }
    }
}

#[test]
fn a_routine_relocation_to_an_unknown_symbol_is_refused() {
    if skip() {
        return;
    }
    let xs = vec![0.5f32; 256];
    let (_, mut artifact) = run_unary("sigmoid", &xs, &[1, 256]);
    let reloc = artifact
        .kernels
        .iter_mut()
        .flat_map(|k| &mut k.relocs)
        .find(|r| matches!(r.target, RelocTarget::Routine(_)))
        .expect("a routine relocation");
    reloc.target = RelocTarget::Routine("system".to_string());
    let err = kiln_cpu::load(artifact).err().expect("refused");
    assert!(err.to_string().contains("routine `system`"), "{err}");
}
