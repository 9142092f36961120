//! Differential tests on a GPU: every case compiled for the device, run, and compared with
//! `kiln_ir::interpret`. Without a driver, a device or libnvrtc, each test prints one skip line.
mod common;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use common::{
    Expect, all_cases, close, inputs_for, large_cases, large_inputs_for, schedule_case, selected,
    tolerance, wide_index,
};
use kiln_cuda::{
    CudaDevice, CudaError, CudaProgram, KernelVariant, VariantPolicy, compile, nvrtc_available,
};
use kiln_ir::{DType, InputError, Tensor};
use kiln_sched::SchedOptions;

/// The device, or `None` after printing why the test is skipped.
fn device_or_skip() -> Option<CudaDevice> {
    if !nvrtc_available() {
        skip_support::skip(
            "libnvrtc not found (pip install nvidia-cuda-nvrtc; `kiln doctor` shows where it looked)",
        );
        return None;
    }
    match CudaDevice::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            skip_support::skip(&e.to_string());
            None
        }
    }
}

/// Compares every output with the interpreter's, pushing one line per mismatch.
fn compare(name: &str, got: &[Tensor], want: &[Tensor], failures: &mut Vec<String>) {
    if got.len() != want.len() {
        failures.push(format!(
            "{name}: {} outputs, want {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (gt, wt)) in got.iter().zip(want).enumerate() {
        let cmp = if gt.shape != wt.shape || gt.dtype != wt.dtype {
            Err(format!(
                "{:?}{:?} vs {:?}{:?}",
                gt.dtype, gt.shape, wt.dtype, wt.shape
            ))
        } else {
            close(&gt.to_f64(), &wt.to_f64(), tolerance(wt.dtype))
        };
        if let Err(e) = cmp {
            failures.push(format!("{name} output {i}: {e}"));
        }
    }
}

/// Every case compiled once and run with the default launch rules, then with `Specialised`:
/// every reduction as a block reduction (pooling windows with padding, NaN and infinities among
/// the inputs) and every vector kernel whose launch conditions hold as one.
fn differential(dev: &CudaDevice, opts: &SchedOptions) {
    let arch = dev.arch().expect("device arch");
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in all_cases().iter().filter(|c| selected(c)) {
        let (g, program) = schedule_case(c, opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let art = compile(&program, arch.as_str()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut prog = CudaProgram::load(dev, &art).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let inputs = inputs_for(&g, &c.shapes);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = kiln_ir::interpret(&g, &inputs).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        for policy in [VariantPolicy::Auto, VariantPolicy::Specialised] {
            prog.set_variant_policy(policy);
            let name = format!("{} ({policy:?})", c.name);
            match prog.run_host(&refs) {
                Ok(got) => compare(&name, &got, &want, &mut failures),
                Err(e) => failures.push(format!("{name}: run failed: {e}")),
            }
            ran += 1;
        }
    }
    println!("ran {ran} case runs on {}", dev.name().unwrap_or_default());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn matches_the_interpreter_with_32_bit_indexing() {
    if let Some(dev) = device_or_skip() {
        differential(&dev, &SchedOptions::default());
    }
}

#[test]
fn matches_the_interpreter_with_64_bit_indexing() {
    if let Some(dev) = device_or_skip() {
        differential(&dev, &wide_index());
    }
}

/// Long rows, 1M-element full reductions and elementwise kernels with and without the vector
/// path, each run one thread per point, with the default rules and with every specialised
/// shape, against the interpreter; the default rules must pick the expected shape.
#[test]
fn large_cases_match_the_interpreter_in_every_shape() {
    let Some(dev) = device_or_skip() else { return };
    let arch = dev.arch().expect("device arch");
    let mut failures = Vec::new();
    let mut ran = 0;
    let index_widths = [SchedOptions::default(), wide_index()];
    let cases = large_cases();
    let selected_cases = cases.iter().filter(|lc| selected(&lc.case));
    for (lc, opts) in selected_cases.flat_map(|lc| index_widths.iter().map(move |o| (lc, o))) {
        let c = &lc.case;
        let (g, program) = schedule_case(c, opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let art = compile(&program, arch.as_str()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut prog = CudaProgram::load(&dev, &art).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let inputs = large_inputs_for(&g, &c.shapes);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = kiln_ir::interpret(&g, &inputs).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        for policy in [
            VariantPolicy::PointOnly,
            VariantPolicy::Auto,
            VariantPolicy::Specialised,
        ] {
            prog.set_variant_policy(policy);
            let name = format!(
                "{} ({policy:?}, {}-bit)",
                c.name,
                program.kernels.first().map_or(0, |k| k.index_bits)
            );
            match prog.run_host(&refs) {
                Ok(got) => compare(&name, &got, &want, &mut failures),
                Err(e) => {
                    failures.push(format!("{name}: run failed: {e}"));
                    continue;
                }
            }
            ran += 1;
            let variants = prog.last_variants();
            let has = |v: KernelVariant| variants.contains(&v);
            let expected = match (policy, lc.expect) {
                (VariantPolicy::PointOnly, _) | (_, Expect::PointOnly) => {
                    variants.iter().all(|&v| v == KernelVariant::Point)
                }
                (_, Expect::Block) => has(KernelVariant::BlockReduce),
                (_, Expect::Vector) => has(KernelVariant::Vector),
            };
            if !expected {
                failures.push(format!(
                    "{name}: ran {variants:?}, expected {:?}",
                    lc.expect
                ));
            }
        }
    }
    println!("ran {ran} large runs on {}", dev.name().unwrap_or_default());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn one_program_serves_several_shapes() {
    let Some(dev) = device_or_skip() else { return };
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "fused_f32")
        .expect("case");
    let (g, program) = schedule_case(&c, &SchedOptions::default()).expect("schedules");
    let art = compile(&program, dev.arch().expect("arch").as_str()).expect("compiles");
    let prog = CudaProgram::load(&dev, &art).expect("loads");
    for n in [2i64, 7, 300] {
        let shapes = vec![vec![n, 9], vec![9]];
        let inputs = inputs_for(&g, &shapes);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = prog.run_host(&refs).expect("runs");
        let want = kiln_ir::interpret(&g, &inputs).expect("interprets");
        for (gt, wt) in got.iter().zip(&want) {
            close(&gt.to_f64(), &wt.to_f64(), 1e-4).unwrap_or_else(|e| panic!("N={n}: {e}"));
        }
    }
}

#[test]
fn bad_inputs_are_rejected_before_launch() {
    let Some(dev) = device_or_skip() else { return };
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "add_f32")
        .expect("case");
    let (_, program) = schedule_case(&c, &SchedOptions::default()).expect("schedules");
    let art = compile(&program, dev.arch().expect("arch").as_str()).expect("compiles");
    let prog = CudaProgram::load(&dev, &art).expect("loads");
    let x = Tensor::zeros(DType::F32, &[4, 5]);
    let z = Tensor::zeros(DType::F32, &[5]);
    let z6 = Tensor::zeros(DType::F32, &[6]);
    let z64 = Tensor::zeros(DType::F64, &[5]);
    assert!(matches!(
        prog.run_host(&[&x]),
        Err(CudaError::Input(InputError::Count {
            expected: 2,
            found: 1,
            ..
        }))
    ));
    assert!(matches!(
        prog.run_host(&[&x, &z64]),
        Err(CudaError::Input(InputError::Dtype { .. }))
    ));
    assert!(matches!(
        prog.run_host(&[&x, &z6]),
        Err(CudaError::Input(InputError::Dim {
            dim: 0,
            found: 6,
            ..
        }))
    ));
    assert!(matches!(
        prog.run_host(&[&z, &z]),
        Err(CudaError::Input(InputError::Rank { .. }))
    ));
}
