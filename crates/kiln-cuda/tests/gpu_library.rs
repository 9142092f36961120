//! Library steps on a GPU: cuBLAS GEMMs in every layout the lowering produces and
//! convolutions (im2col + GEMM, 1x1, depthwise, 1-d), for f32, f64, f16 and bf16, compared with
//! an f64 reference of the same call on the same (rounded) inputs. The ops that lower to these
//! calls land on other branches, so the programs are built by hand (`library_support`).
//! Without libnvrtc, a driver, a device or libcublas, each test prints one skip line.
mod library_support;
#[path = "../../../tests/skip_support/mod.rs"]
mod skip_support;

use kiln_cuda::{CudaDevice, CudaProgram, compile, cublas_available, nvrtc_available};
use kiln_ir::{DType, Tensor};
use kiln_sched::Program;
use library_support::*;

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn device_or_skip() -> Option<CudaDevice> {
    if !nvrtc_available() {
        skip_support::skip("libnvrtc not found (pip install nvidia-cuda-nvrtc)");
        return None;
    }
    if !cublas_available() {
        skip_support::skip("libcublas not found (pip install nvidia-cublas)");
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

/// Compiles and runs `p` on the device; its single output as f64.
fn run(dev: &CudaDevice, p: &Program, inputs: &[Tensor]) -> Result<Vec<f64>, String> {
    let arch = dev.arch().map_err(|e| e.to_string())?;
    let art = compile(p, arch.as_str()).map_err(|e| format!("compile: {e}"))?;
    let prog = CudaProgram::load(dev, &art).map_err(|e| format!("load: {e}"))?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let out = prog.run_host(&refs).map_err(|e| format!("run: {e}"))?;
    Ok(out[0].to_f64())
}

fn report(failures: Vec<String>, ran: usize) {
    println!("ran {ran} library programs");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn gemms_match_the_reference_in_every_layout_and_dtype() {
    let Some(dev) = device_or_skip() else { return };
    let (mut failures, mut ran) = (Vec::new(), 0);
    for d in DTYPES {
        for (i, c) in gemm_cases().iter().enumerate() {
            let (a, b) = (
                values(d, c.a.numel, 2 * i as u64),
                values(d, c.b.numel, 2 * i as u64 + 1),
            );
            for (steps, p) in [(0, gemm_program(c, d)), (1, accumulate_program(c, d))] {
                let name = format!("{}_{d}", p.graph_name);
                let want = gemm_reference(c, &a.to_f64(), &b.to_f64(), steps);
                match run(&dev, &p, &[a.clone(), b.clone()]) {
                    Ok(got) => {
                        let want: Vec<f64> =
                            want.iter().map(|&v| kiln_ir::round_to(d, v)).collect();
                        if let Err(e) = check_close(&name, &got, &want, tolerance(d)) {
                            failures.push(e);
                        }
                    }
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
                ran += 1;
            }
        }
    }
    report(failures, ran);
}

#[test]
fn convolutions_match_the_reference_in_every_shape_and_dtype() {
    let Some(dev) = device_or_skip() else { return };
    let (mut failures, mut ran) = (Vec::new(), 0);
    for d in DTYPES {
        for (i, c) in conv_cases().iter().enumerate() {
            let (x, w) = (
                values(d, c.x_numel(), 7 + i as u64),
                values(d, c.w_numel(), 70 + i as u64),
            );
            let name = format!("{}_{d}", c.name);
            let want = conv_reference(c, &x.to_f64(), &w.to_f64());
            let want: Vec<f64> = want.iter().map(|&v| kiln_ir::round_to(d, v)).collect();
            match run(&dev, &conv_program(c, d), &[x, w]) {
                Ok(got) => {
                    if let Err(e) = check_close(&name, &got, &want, tolerance(d)) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
            ran += 1;
        }
    }
    report(failures, ran);
}

#[test]
fn a_conv_larger_than_the_scratch_limit_runs_in_chunks() {
    let Some(dev) = device_or_skip() else { return };
    // One image's columns: 64 * 9 * 56 * 56 f32 = 7.2 MB; 40 images need two passes.
    let c = ConvCase {
        name: "conv_chunked".into(),
        n: 40,
        c_in: 64,
        c_out: 8,
        spatial: vec![56, 56],
        kernel: vec![3, 3],
        stride: vec![1, 1],
        padding: vec![1, 1],
        dilation: vec![1, 1],
        groups: 1,
    };
    let d = DType::F32;
    let (x, w) = (values(d, c.x_numel(), 1), values(d, c.w_numel(), 2));
    let want = conv_reference(&c, &x.to_f64(), &w.to_f64());
    let got = run(&dev, &conv_program(&c, d), &[x, w]).expect("runs");
    // K = 576 products per output: f32 accumulation in any order stays well inside 1e-4.
    check_close("conv_chunked", &got, &want, 1e-4).unwrap();
}

#[test]
fn one_artifact_with_a_symbolic_batch_serves_several_sizes() {
    let Some(dev) = device_or_skip() else { return };
    let (m, n, k) = (3, 4, 5);
    let d = DType::F32;
    let p = dynamic_linear_program(d, m, n, k);
    let art = compile(&p, dev.arch().expect("arch").as_str()).expect("compiles");
    let prog = CudaProgram::load(&dev, &art).expect("loads");
    for batch in [1, 3, 0] {
        let x = values(d, batch * m * k, batch as u64);
        let w = values(d, n * k, 99);
        let want = gemm_reference(
            &GemmCase {
                name: "linear".into(),
                batch: vec![batch],
                m,
                n,
                k,
                a: View {
                    numel: batch * m * k,
                    offset: 0,
                    batch_strides: vec![m * k],
                    row_stride: k,
                    col_stride: 1,
                },
                b: View {
                    numel: n * k,
                    offset: 0,
                    batch_strides: vec![0],
                    row_stride: 1,
                    col_stride: k,
                },
                alpha: 1.0,
            },
            &x.to_f64(),
            &w.to_f64(),
            0,
        );
        let x = Tensor::from_f64(d, &[batch, m, k], &x.to_f64());
        let w = Tensor::from_f64(d, &[n, k], &w.to_f64());
        let out = prog.run_host(&[&x, &w]).expect("runs");
        assert_eq!(out[0].shape, vec![batch, m, n]);
        check_close(&format!("N={batch}"), &out[0].to_f64(), &want, tolerance(d)).unwrap();
    }
}
