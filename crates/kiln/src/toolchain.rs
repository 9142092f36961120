//! What this machine offers the backends, for `kiln doctor` and bug reports: which libnvrtc
//! loads (or every place searched) and whether the CUDA driver loads. Asking loads nothing
//! that a compile would not load anyway, and never needs a GPU.

/// The CUDA tools kiln found. Without the `cuda` feature nothing is searched.
#[derive(Debug, Clone)]
pub struct CudaToolchain {
    /// The libnvrtc that loads, or each `(place, why it did not load)` that was tried.
    pub nvrtc: Result<String, Vec<(String, String)>>,
    /// NVRTC's `major.minor`, when it loads.
    pub nvrtc_version: Option<String>,
    /// Whether the CUDA driver library (libcuda) loads.
    pub driver: bool,
}

/// Probes NVRTC and the driver (see [`CudaToolchain`]).
#[cfg(feature = "cuda")]
pub fn cuda_toolchain() -> CudaToolchain {
    CudaToolchain {
        nvrtc: kiln_cuda::nvrtc_library(),
        nvrtc_version: kiln_cuda::nvrtc_version()
            .ok()
            .map(|(major, minor)| format!("{major}.{minor}")),
        driver: kiln_cuda::runtime::driver_available(),
    }
}

/// Probes NVRTC and the driver (see [`CudaToolchain`]): this build has no CUDA backend.
#[cfg(not(feature = "cuda"))]
pub fn cuda_toolchain() -> CudaToolchain {
    CudaToolchain {
        nvrtc: Err(vec![(
            "kiln".into(),
            "built without the `cuda` feature".into(),
        )]),
        nvrtc_version: None,
        driver: false,
    }
}
