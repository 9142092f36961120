//! NVRTC: CUDA C to PTX and to a cubin, on any machine that has libnvrtc (no GPU needed).
//!
//! kiln finds and loads libnvrtc itself ([`load`]: `KILN_NVRTC`, the dynamic loader's path for
//! `.so.13` and later down to `.so.9`, then the PyPI wheel's directory in the active Python
//! environment), because cudarc 0.19 knows neither NVRTC 13 nor a path and panics when its
//! names fail. Every entry point checks [`nvrtc_available`] first; [`nvrtc_library`] says which
//! file was loaded. The program is created with headers and read back as PTX and as a cubin
//! (`nvrtcGetCUBIN`), and destroyed on every path.
pub(crate) mod load;

use std::ffi::{CString, c_char, c_int};

use serde::{Deserialize, Serialize};

use crate::codegen::{CudaSource, numbered_lines};
use crate::error::CudaError;

use load::{Api, Prog};

/// A real GPU architecture, `sm_<major><minor>` with an optional `a` suffix (`sm_90a`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Arch(String);

impl Arch {
    pub fn parse(s: &str) -> Result<Arch, CudaError> {
        let bad = || CudaError::BadArch {
            arch: s.to_string(),
        };
        let digits = s.strip_prefix("sm_").ok_or_else(bad)?;
        let digits = digits.strip_suffix('a').unwrap_or(digits);
        if digits.len() < 2 || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Arch(s.to_string()))
    }
    /// From a device's compute capability (`(9, 0)` is `sm_90`).
    pub fn from_capability(major: i32, minor: i32) -> Result<Arch, CudaError> {
        Arch::parse(&format!("sm_{major}{minor}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether libnvrtc can be loaded (searched once per process).
pub fn nvrtc_available() -> bool {
    load::api().is_ok()
}

/// Which libnvrtc was loaded (a path, and how it was found), or every candidate tried and why
/// each failed.
pub fn nvrtc_library() -> Result<String, Vec<(String, String)>> {
    load::api()
        .map(|api| api.source.clone())
        .map_err(|missing| missing.tried.clone())
}

fn require_nvrtc() -> Result<&'static Api, CudaError> {
    load::api().map_err(|_| CudaError::NvrtcUnavailable)
}

fn check(api: &Api, call: &str, status: c_int) -> Result<(), CudaError> {
    if status == 0 {
        Ok(())
    } else {
        Err(CudaError::Nvrtc {
            call: call.to_string(),
            status: api.status_name(status),
        })
    }
}

/// NVRTC's `(major, minor)` version.
pub fn nvrtc_version() -> Result<(i32, i32), CudaError> {
    let api = require_nvrtc()?;
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: both pointers are valid for writes; the library is loaded.
    check(api, "nvrtcVersion", unsafe {
        (api.version)(&mut major, &mut minor)
    })?;
    Ok((major, minor))
}

/// What NVRTC produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub ptx: String,
    /// An ELF image for exactly the requested architecture.
    pub cubin: Vec<u8>,
    pub log: String,
}

/// The options every compilation uses.
fn options(arch: &Arch) -> Vec<String> {
    vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
        // Denormals and IEEE division/sqrt, as the reference interpreter computes.
        "--ftz=false".to_string(),
        "--prec-div=true".to_string(),
        "--prec-sqrt=true".to_string(),
    ]
}

/// An NVRTC program handle, destroyed on drop.
struct Program {
    api: &'static Api,
    raw: Prog,
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the handle came from nvrtcCreateProgram and is destroyed once.
        unsafe {
            let _ = (self.api.destroy_program)(&mut self.raw);
        }
    }
}

fn cstring(what: &str, s: &str) -> Result<CString, CudaError> {
    CString::new(s).map_err(|_| CudaError::Nvrtc {
        call: format!("passing {what}"),
        status: "it contains a NUL byte".to_string(),
    })
}

/// Compiles `src` for `arch` to PTX and a cubin.
pub fn compile_source(src: &CudaSource, arch: &Arch) -> Result<Compiled, CudaError> {
    let api = require_nvrtc()?;
    let code = cstring("the source", &src.code)?;
    let name = cstring("the program name", &src.name)?;
    let header_bodies = src
        .headers
        .iter()
        .map(|(_, body)| cstring("a header", body))
        .collect::<Result<Vec<_>, _>>()?;
    let header_names = src
        .headers
        .iter()
        .map(|(n, _)| cstring("a header name", n))
        .collect::<Result<Vec<_>, _>>()?;
    let body_ptrs: Vec<*const c_char> = header_bodies.iter().map(|c| c.as_ptr()).collect();
    let name_ptrs: Vec<*const c_char> = header_names.iter().map(|c| c.as_ptr()).collect();
    let count = c_int::try_from(body_ptrs.len()).map_err(|_| CudaError::Nvrtc {
        call: "nvrtcCreateProgram".to_string(),
        status: "too many headers".to_string(),
    })?;
    let mut raw: Prog = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; NVRTC copies the strings.
    check(api, "nvrtcCreateProgram", unsafe {
        (api.create_program)(
            &mut raw,
            code.as_ptr(),
            name.as_ptr(),
            count,
            body_ptrs.as_ptr(),
            name_ptrs.as_ptr(),
        )
    })?;
    let prog = Program { api, raw };
    let opts = options(arch)
        .iter()
        .map(|o| cstring("an option", o))
        .collect::<Result<Vec<_>, _>>()?;
    let opt_ptrs: Vec<*const c_char> = opts.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: the program is live; the options outlive the call.
    let status =
        unsafe { (api.compile_program)(prog.raw, opt_ptrs.len() as c_int, opt_ptrs.as_ptr()) };
    let log = program_log(&prog)?;
    if status != 0 {
        return Err(CudaError::Compile {
            program: src.name.clone(),
            arch: arch.to_string(),
            status: api.status_name(status),
            excerpt: excerpt(&src.code, &log),
            log,
        });
    }
    let ptx = fetch(&prog, "nvrtcGetPTX", api.get_ptx_size, api.get_ptx)?;
    let cubin = fetch(&prog, "nvrtcGetCUBIN", api.get_cubin_size, api.get_cubin)?;
    Ok(Compiled {
        ptx: String::from_utf8_lossy(trim_nul(&ptx)).into_owned(),
        cubin,
        log,
    })
}

fn trim_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

type SizeFn = unsafe extern "C" fn(Prog, *mut usize) -> c_int;
type GetFn = unsafe extern "C" fn(Prog, *mut c_char) -> c_int;

/// Reads one of the program's outputs (PTX, cubin, log) through its size/get function pair.
fn fetch(prog: &Program, call: &str, size: SizeFn, get: GetFn) -> Result<Vec<u8>, CudaError> {
    let mut len = 0usize;
    // SAFETY: the program is live and `len` is valid for writes.
    check(prog.api, &format!("{call}Size"), unsafe {
        size(prog.raw, &mut len)
    })?;
    let mut buf = vec![0u8; len];
    if len > 0 {
        // SAFETY: `buf` holds exactly the `len` bytes NVRTC reported.
        check(prog.api, call, unsafe {
            get(prog.raw, buf.as_mut_ptr() as *mut c_char)
        })?;
    }
    Ok(buf)
}

fn program_log(prog: &Program) -> Result<String, CudaError> {
    let api = prog.api;
    let raw = fetch(
        prog,
        "nvrtcGetProgramLog",
        api.get_program_log_size,
        api.get_program_log,
    )?;
    Ok(String::from_utf8_lossy(trim_nul(&raw)).trim().to_string())
}

/// The source lines around the first `(<line>)` location NVRTC's log names.
fn excerpt(code: &str, log: &str) -> String {
    let line = log.lines().find_map(|l| {
        let open = l.find('(')?;
        let close = open + l[open..].find(')')?;
        l[open + 1..close].parse::<usize>().ok()
    });
    match line {
        Some(n) => numbered_lines(code, n.saturating_sub(3).max(1), n + 3),
        None => numbered_lines(code, 1, 40),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_are_checked() {
        assert!(Arch::parse("sm_90").is_ok());
        assert!(Arch::parse("sm_90a").is_ok());
        assert!(Arch::parse("sm_100").is_ok());
        assert!(Arch::parse("compute_90").is_err());
        assert!(Arch::parse("sm_9").is_err());
        assert!(Arch::parse("sm_9x").is_err());
        assert_eq!(Arch::from_capability(8, 6).unwrap().as_str(), "sm_86");
    }

    #[test]
    fn excerpt_shows_lines_around_the_error() {
        let code = (1..=20).map(|i| format!("line{i}\n")).collect::<String>();
        let ex = excerpt(&code, "prog.cu(10): error: identifier \"x\" is undefined");
        assert!(ex.contains("   10 | line10"), "{ex}");
        assert!(
            ex.contains("    7 | line7") && !ex.contains("line14"),
            "{ex}"
        );
    }
}
