//! `kiln doctor`: what this machine offers kiln, so that a missing library is one command away
//! from its explanation: which libnvrtc was loaded (or every place searched), whether the CUDA
//! driver loads, and which cache directory a compile would use (without creating it).
use serde_json::json;

use crate::cli::DoctorArgs;
use crate::error::CliResult;

pub fn doctor(args: DoctorArgs) -> CliResult<()> {
    let kiln::CudaToolchain {
        nvrtc,
        nvrtc_version: version,
        driver,
    } = kiln::cuda_toolchain();
    let cache_dir = args
        .cache
        .cache_dir
        .clone()
        .unwrap_or_else(|| kiln::CacheConfig::from_env().dir);
    if args.json {
        let nvrtc_json = match &nvrtc {
            Ok(lib) => json!({"library": lib, "version": version}),
            Err(tried) => json!({
                "library": null,
                "tried": tried.iter().map(|(what, why)| json!({"name": what, "error": why})).collect::<Vec<_>>(),
            }),
        };
        let obj = json!({
            "kiln": env!("CARGO_PKG_VERSION"),
            "nvrtc": nvrtc_json,
            "cuda_driver": driver,
            "cache_dir": cache_dir.display().to_string(),
        });
        println!("{obj}");
        return Ok(());
    }
    println!("kiln {}", env!("CARGO_PKG_VERSION"));
    match &nvrtc {
        Ok(lib) => println!(
            "nvrtc: NVRTC {} from {lib}",
            version.as_deref().unwrap_or("(version unknown)")
        ),
        Err(tried) => {
            println!(
                "nvrtc: not found (--emit ptx and the cuda backend need it): \
                 `pip install nvidia-cuda-nvrtc`, or set KILN_NVRTC=/path/to/libnvrtc.so.N"
            );
            for (what, why) in tried {
                println!("  tried {what}: {why}");
            }
        }
    }
    println!(
        "cuda driver: {}",
        if driver {
            "libcuda loads (running on a GPU is possible)"
        } else {
            "libcuda not found (the cuda backend cannot run here; --emit cuda|ptx still work)"
        }
    );
    println!("cache dir: {}", cache_dir.display());
    Ok(())
}
