//! Finding and loading libcublas ourselves, the way [`crate::nvrtc`] loads libnvrtc.
//!
//! cudarc's `cublas` module (0.19, built for CUDA 12.8) dlopens only `libcublas.so`, `.so.12`,
//! `.so.11`, ... by name, takes no path and panics when none loads, while the PyPI wheel
//! `nvidia-cublas` (CUDA 13) ships `nvidia/cu13/lib/libcublas.so.13` inside a Python
//! environment. So kiln searches, in order: `KILN_CUBLAS` (a path; nothing else when it is
//! set), the dynamic loader by name (`libcublas.so.19` down to `.so.9`, then `libcublas.so`),
//! then the wheels' `nvidia/cu*/lib` and `nvidia/cublas/lib` under the site-packages the NVRTC
//! search probes, and last the site-packages `python3` reports. The few functions kiln calls
//! are resolved once into a table; their status codes are read as integers.
use std::ffi::{CStr, c_char, c_int, c_longlong, c_void};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::nvrtc::load::{loaded_path, probed_site_dirs, python_site_dir, wheel_libraries_of};

/// cuBLAS's opaque handle.
pub type Handle = *mut c_void;

type GemmStridedBatchedEx = unsafe extern "C" fn(
    Handle,
    c_int,         // transa
    c_int,         // transb
    c_int,         // m
    c_int,         // n
    c_int,         // k
    *const c_void, // alpha
    *const c_void, // A
    c_int,         // Atype
    c_int,         // lda
    c_longlong,    // strideA
    *const c_void, // B
    c_int,         // Btype
    c_int,         // ldb
    c_longlong,    // strideB
    *const c_void, // beta
    *mut c_void,   // C
    c_int,         // Ctype
    c_int,         // ldc
    c_longlong,    // strideC
    c_int,         // batchCount
    c_int,         // computeType
    c_int,         // algo
) -> c_int;

/// The cuBLAS functions kiln calls, resolved from one loaded library.
pub struct Api {
    /// What was loaded: a file path, or the name the dynamic loader resolved.
    pub source: String,
    pub create: unsafe extern "C" fn(*mut Handle) -> c_int,
    pub destroy: unsafe extern "C" fn(Handle) -> c_int,
    pub set_stream: unsafe extern "C" fn(Handle, *mut c_void) -> c_int,
    pub get_property: unsafe extern "C" fn(c_int, *mut c_int) -> c_int,
    /// `cublasGetStatusName` (cuBLAS 11.4+), for messages; absent in older libraries.
    pub status_name: Option<unsafe extern "C" fn(c_int) -> *const c_char>,
    pub gemm_strided_batched_ex: GemmStridedBatchedEx,
    /// Keeps the function pointers above valid for the life of the process.
    _lib: libloading::Library,
}

impl Api {
    /// cuBLAS's name for a status code (`CUBLAS_STATUS_INVALID_VALUE`).
    pub fn status_text(&self, status: c_int) -> String {
        let Some(name) = self.status_name else {
            return format!("cuBLAS status {status}");
        };
        // SAFETY: cublasGetStatusName accepts any code and returns a static string or null.
        let text = unsafe { name(status) };
        if text.is_null() {
            return format!("cuBLAS status {status}");
        }
        // SAFETY: non-null results are NUL-terminated static strings.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }

    /// `(major, minor, patch)` of the loaded library (no GPU needed).
    pub fn version(&self) -> Option<(i32, i32, i32)> {
        let prop = |which: c_int| {
            let mut v: c_int = 0;
            // SAFETY: libraryPropertyType 0..=2 (major, minor, patch); writes one int.
            let status = unsafe { (self.get_property)(which, &mut v) };
            (status == 0).then_some(v)
        };
        Some((prop(0)?, prop(1)?, prop(2)?))
    }
}

/// Why no library was loaded: every candidate tried, with the loader's answer for each.
#[derive(Debug, Clone)]
pub struct NotFound {
    pub tried: Vec<(String, String)>,
}

/// The loaded library, or why there is none; searched once per process.
pub fn api() -> Result<&'static Api, &'static NotFound> {
    static API: OnceLock<Result<Api, NotFound>> = OnceLock::new();
    API.get_or_init(find).as_ref()
}

fn find() -> Result<Api, NotFound> {
    let mut tried = Vec::new();
    if let Some(path) = std::env::var_os("KILN_CUBLAS").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let shown = path.display().to_string();
        return open(&shown, &mut tried)
            .map(|mut api| {
                api.source = format!("{shown} (KILN_CUBLAS)");
                api
            })
            .ok_or(NotFound { tried });
    }
    for name in loader_names() {
        if let Some(api) = open(&name, &mut tried) {
            return Ok(api);
        }
    }
    for sites in [probed_site_dirs(), python_site_dir()] {
        for path in wheel_libraries_of(&sites, "libcublas", "cublas") {
            if let Some(api) = open(&path.display().to_string(), &mut tried) {
                return Ok(api);
            }
        }
    }
    Err(NotFound { tried })
}

/// The names the dynamic loader is asked for: newest soname first, then the unversioned one.
pub fn loader_names() -> Vec<String> {
    let mut names: Vec<String> = (9..=19)
        .rev()
        .map(|v| format!("libcublas.so.{v}"))
        .collect();
    names.push("libcublas.so".into());
    names
}

fn open(what: &str, tried: &mut Vec<(String, String)>) -> Option<Api> {
    // SAFETY: loading libcublas runs only its initialisers (and those of libcublasLt, which
    // the wheel's RPATH finds beside it), which have no preconditions.
    let lib = match unsafe { libloading::Library::new(what) } {
        Ok(lib) => lib,
        Err(e) => {
            let why = match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            tried.push((what.to_string(), why));
            return None;
        }
    };
    match resolve(lib, what) {
        Ok(api) => Some(api),
        Err(e) => {
            tried.push((what.to_string(), e));
            None
        }
    }
}

fn resolve(lib: libloading::Library, what: &str) -> Result<Api, String> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is cuBLAS's C function of that name; the field's type is its
            // documented signature (enums and status codes passed as c_int, which they are).
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("no {} in it: {e}", $name))?
        };
    }
    // SAFETY: as above; a missing symbol only leaves the status names out.
    let status_name = unsafe { lib.get(b"cublasGetStatusName\0") }
        .ok()
        .map(|s| *s);
    let source =
        loaded_path(what).unwrap_or_else(|| format!("{what} (through the dynamic loader)"));
    Ok(Api {
        source,
        create: sym!("cublasCreate_v2"),
        destroy: sym!("cublasDestroy_v2"),
        set_stream: sym!("cublasSetStream_v2"),
        get_property: sym!("cublasGetProperty"),
        status_name,
        gemm_strided_batched_ex: sym!("cublasGemmStridedBatchedEx"),
        _lib: lib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_is_asked_for_13_and_later_before_12_and_the_bare_name() {
        let names = loader_names();
        let at = |n: &str| names.iter().position(|x| x == n).expect(n);
        assert!(at("libcublas.so.13") < at("libcublas.so.12"));
        assert_eq!(names.last().map(String::as_str), Some("libcublas.so"));
    }

    #[test]
    fn wheel_directories_are_found_newest_first_without_cublas_lt() {
        let site = tempfile::tempdir().expect("tempdir");
        let make = |rel: &str| {
            let p = site.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
            p
        };
        let cu13 = make("nvidia/cu13/lib/libcublas.so.13");
        make("nvidia/cu13/lib/libcublasLt.so.13");
        make("nvidia/cu13/lib/libnvrtc.so.13");
        let old = make("nvidia/cublas/lib/libcublas.so.12");
        make("nvidia/cuda_nvrtc/lib/libcublas.so.12");
        let found = wheel_libraries_of(&[site.path().to_path_buf()], "libcublas", "cublas");
        assert_eq!(found, vec![cu13, old]);
    }
}
