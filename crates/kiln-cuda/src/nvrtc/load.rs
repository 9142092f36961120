//! Finding and loading libnvrtc ourselves, instead of through cudarc.
//!
//! cudarc 0.19 (built for CUDA 12.8) dlopens only `libnvrtc.so`, `.so.12`, `.so.11`, `.so.10`,
//! `.so.9` and `.so.1`, panics when none loads, and takes no path. The PyPI wheel
//! `nvidia-cuda-nvrtc` now ships only `nvidia/cu13/lib/libnvrtc.so.13`, inside a Python
//! environment that is rarely on `LD_LIBRARY_PATH`. So kiln searches, in order:
//! 1. `KILN_NVRTC`, a path to the library (and nothing else when it is set);
//! 2. the dynamic loader's path (`LD_LIBRARY_PATH`, `ldconfig`) by name, newest version first
//!    (`libnvrtc.so.19` .. `.so.9`), then the unversioned `libnvrtc.so`;
//! 3. the wheel's directories (`nvidia/cu*/lib`, `nvidia/cuda_nvrtc/lib`) in the site-packages
//!    of the active Python environment, found by probing paths: `VIRTUAL_ENV`, `CONDA_PREFIX`,
//!    the prefix of each `python3` on `PATH`, pyenv's selected version, the user site and the
//!    system dist-packages;
//! 4. only when all of that failed, the site-packages that `python3` itself reports (one
//!    process start, once per process).
//!
//! The functions are resolved once into a table of plain function pointers; their return
//! codes are read as integers, so a status a newer NVRTC added cannot be an invalid enum.
use std::ffi::{CStr, OsString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// NVRTC's opaque program handle.
pub type Prog = *mut c_void;

/// The NVRTC functions kiln calls, resolved from one loaded library.
pub struct Api {
    /// What was loaded: a file path, or the name the dynamic loader resolved.
    pub source: String,
    pub version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int,
    pub get_error_string: unsafe extern "C" fn(c_int) -> *const c_char,
    pub create_program: unsafe extern "C" fn(
        *mut Prog,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> c_int,
    pub compile_program: unsafe extern "C" fn(Prog, c_int, *const *const c_char) -> c_int,
    pub destroy_program: unsafe extern "C" fn(*mut Prog) -> c_int,
    pub get_program_log_size: unsafe extern "C" fn(Prog, *mut usize) -> c_int,
    pub get_program_log: unsafe extern "C" fn(Prog, *mut c_char) -> c_int,
    pub get_ptx_size: unsafe extern "C" fn(Prog, *mut usize) -> c_int,
    pub get_ptx: unsafe extern "C" fn(Prog, *mut c_char) -> c_int,
    pub get_cubin_size: unsafe extern "C" fn(Prog, *mut usize) -> c_int,
    pub get_cubin: unsafe extern "C" fn(Prog, *mut c_char) -> c_int,
    /// Keeps the function pointers above valid for the life of the process.
    _lib: libloading::Library,
}

impl Api {
    /// NVRTC's name for a status code (`NVRTC_ERROR_INVALID_OPTION`).
    pub fn status_name(&self, status: c_int) -> String {
        // SAFETY: nvrtcGetErrorString accepts any code and returns a static string or null.
        let text = unsafe { (self.get_error_string)(status) };
        if text.is_null() {
            return format!("NVRTC status {status}");
        }
        // SAFETY: non-null results are NUL-terminated static strings.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
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
    if let Some(path) = std::env::var_os("KILN_NVRTC").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return open(&path.display().to_string(), &mut tried)
            .ok_or(NotFound { tried })
            .map(|api| api.named(format!("{} (KILN_NVRTC)", path.display())));
    }
    for name in loader_names() {
        if let Some(api) = open(&name, &mut tried) {
            return Ok(api);
        }
    }
    for path in wheel_libraries(&probed_site_dirs()) {
        if let Some(api) = open(&path.display().to_string(), &mut tried) {
            return Ok(api);
        }
    }
    for path in wheel_libraries(&python_site_dir()) {
        if let Some(api) = open(&path.display().to_string(), &mut tried) {
            return Ok(api);
        }
    }
    Err(NotFound { tried })
}

impl Api {
    fn named(mut self, source: String) -> Api {
        self.source = source;
        self
    }
}

/// The names the dynamic loader is asked for: newest soname first, then the unversioned one.
pub fn loader_names() -> Vec<String> {
    let mut names: Vec<String> = (9..=19).rev().map(|v| format!("libnvrtc.so.{v}")).collect();
    names.push("libnvrtc.so".into());
    names
}

/// Loads `what` and resolves every function; records the failure in `tried` otherwise.
fn open(what: &str, tried: &mut Vec<(String, String)>) -> Option<Api> {
    // SAFETY: loading libnvrtc runs only its initialisers, which have no preconditions.
    let lib = match unsafe { libloading::Library::new(what) } {
        Ok(lib) => lib,
        Err(e) => {
            // libloading's message is "dlopen failed"; the loader's reason is its source.
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
            // SAFETY: the symbol is NVRTC's C function of that name; the field's type is its
            // documented signature (return codes widened to c_int, which nvrtcResult is).
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("no {} in it: {e}", $name))?
        };
    }
    let source =
        loaded_path(what).unwrap_or_else(|| format!("{what} (through the dynamic loader)"));
    Ok(Api {
        source,
        version: sym!("nvrtcVersion"),
        get_error_string: sym!("nvrtcGetErrorString"),
        create_program: sym!("nvrtcCreateProgram"),
        compile_program: sym!("nvrtcCompileProgram"),
        destroy_program: sym!("nvrtcDestroyProgram"),
        get_program_log_size: sym!("nvrtcGetProgramLogSize"),
        get_program_log: sym!("nvrtcGetProgramLog"),
        get_ptx_size: sym!("nvrtcGetPTXSize"),
        get_ptx: sym!("nvrtcGetPTX"),
        get_cubin_size: sym!("nvrtcGetCUBINSize"),
        get_cubin: sym!("nvrtcGetCUBIN"),
        _lib: lib,
    })
}

/// The file a name resolved to, from this process's memory map (Linux); `what` itself when it
/// is a path.
pub(crate) fn loaded_path(what: &str) -> Option<String> {
    if what.contains('/') {
        return Some(what.to_string());
    }
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| Path::new(p).file_name().is_some_and(|f| f == what))
        .map(str::to_string)
}

/// libnvrtc files in the wheel's directories under each site-packages dir, newest first.
pub fn wheel_libraries(site_dirs: &[PathBuf]) -> Vec<PathBuf> {
    wheel_libraries_of(site_dirs, "libnvrtc", "cuda_nvrtc")
}

/// Files `<stem>.so[.N]` in NVIDIA's wheel directories under each site-packages dir, newest
/// first: `nvidia/cu<N>/lib` (the CUDA 13 wheels), then `nvidia/<legacy_dir>/lib` (the
/// older per-library wheels, such as `cuda_nvrtc` or `cublas`).
pub(crate) fn wheel_libraries_of(
    site_dirs: &[PathBuf],
    stem: &str,
    legacy_dir: &str,
) -> Vec<PathBuf> {
    let prefix = format!("{stem}.so");
    let mut found = Vec::new();
    for site in site_dirs {
        let nvidia = site.join("nvidia");
        let mut lib_dirs: Vec<(u32, PathBuf)> = subdirs(&nvidia)
            .into_iter()
            .filter_map(|d| {
                let name = d.file_name()?.to_str()?;
                // cu13 before cu12; cuda_nvrtc (the older wheels' layout) last.
                let rank: u32 = match name.strip_prefix("cu").filter(|v| is_digits(v)) {
                    Some(v) => v.parse().ok()?,
                    None if name == legacy_dir => 0,
                    None => return None,
                };
                Some((rank, d.join("lib")))
            })
            .collect();
        lib_dirs.sort_by(|a, b| b.cmp(a));
        for (_, dir) in lib_dirs {
            let mut libs: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let version = match name.strip_prefix(prefix.as_str()) {
                        Some("") => 0,
                        Some(v) => v.strip_prefix('.').filter(|v| is_digits(v))?.parse().ok()?,
                        None => return None,
                    };
                    Some((version, e.path()))
                })
                .collect();
            libs.sort_by(|a, b| b.cmp(a));
            found.extend(libs.into_iter().map(|(_, p)| p));
        }
    }
    found
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// Site-packages directories of the likely active Python environments, found without running
/// Python.
pub(crate) fn probed_site_dirs() -> Vec<PathBuf> {
    probed_site_dirs_with(&|name| std::env::var_os(name))
}

/// [`probed_site_dirs`] over any variable lookup (tests need no process environment).
fn probed_site_dirs_with(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let env = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut prefixes: Vec<PathBuf> = Vec::new();
    prefixes.extend(env("VIRTUAL_ENV"));
    prefixes.extend(env("CONDA_PREFIX"));
    for dir in std::env::split_paths(&var("PATH").unwrap_or_default()) {
        let python = dir.join("python3");
        if !python.exists() {
            continue;
        }
        // A venv's python3 is a link to the base interpreter: the venv is the directory above
        // the link, the base installation the one above its target; both hold site-packages.
        prefixes.extend(dir.parent().map(Path::to_path_buf));
        if let Ok(real) = std::fs::canonicalize(&python) {
            prefixes.extend(real.parent().and_then(Path::parent).map(Path::to_path_buf));
        }
    }
    prefixes.extend(pyenv_prefix(var));
    if let Some(home) = env("HOME") {
        prefixes.push(home.join(".local"));
    }
    prefixes.push("/usr/local".into());
    prefixes.push("/usr".into());
    let mut seen = std::collections::HashSet::new();
    prefixes.retain(|p| seen.insert(p.clone()));
    let mut sites = Vec::new();
    for prefix in prefixes {
        for lib in subdirs(&prefix.join("lib")) {
            let is_python = lib
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3"));
            if is_python {
                sites.push(lib.join("site-packages"));
                sites.push(lib.join("dist-packages"));
            }
        }
    }
    sites.retain(|s| s.is_dir());
    sites
}

/// pyenv's selected version (`PYENV_VERSION`, else `$PYENV_ROOT/version`), whose `python3` on
/// `PATH` is a shell script that canonicalising cannot see through.
fn pyenv_prefix(var: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let root = var("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".pyenv")))?;
    let version = var("PYENV_VERSION")
        .and_then(|v| v.into_string().ok())
        .or_else(|| std::fs::read_to_string(root.join("version")).ok())?;
    let version = version.split([':', '\n']).next()?.trim().to_string();
    (!version.is_empty()).then(|| root.join("versions").join(version))
}

/// The site-packages `python3` reports: the last resort, one process start.
pub(crate) fn python_site_dir() -> Vec<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
            (!dir.is_empty())
                .then(|| PathBuf::from(dir))
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_is_asked_for_13_and_later_before_12_and_the_bare_name() {
        let names = loader_names();
        let at = |n: &str| names.iter().position(|x| x == n).expect(n);
        assert!(at("libnvrtc.so.13") < at("libnvrtc.so.12"));
        assert!(at("libnvrtc.so.19") < at("libnvrtc.so.13"));
        assert_eq!(names.last().map(String::as_str), Some("libnvrtc.so"));
        assert!(names.contains(&"libnvrtc.so.9".to_string()));
    }

    #[test]
    fn a_venv_on_path_and_pyenv_s_version_are_probed_without_running_python() {
        let root = tempfile::tempdir().expect("tempdir");
        let mkdir = |rel: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        // A venv whose bin/python3 is (here) a plain file; only PATH names it.
        let venv_bin = mkdir("venv/bin");
        std::fs::write(venv_bin.join("python3"), b"").unwrap();
        let venv_site = mkdir("venv/lib/python3.12/site-packages");
        // pyenv: its shims hide the interpreter; the version file names it.
        let pyenv = root.path().join("pyenv");
        let pyenv_site = mkdir("pyenv/versions/3.11.7/lib/python3.11/site-packages");
        std::fs::write(pyenv.join("version"), "3.11.7\n").unwrap();
        let var = |name: &str| -> Option<OsString> {
            match name {
                "PATH" => Some(venv_bin.clone().into_os_string()),
                "PYENV_ROOT" => Some(pyenv.clone().into_os_string()),
                _ => None,
            }
        };
        let sites = probed_site_dirs_with(&var);
        assert!(sites.contains(&venv_site), "{sites:?}");
        assert!(sites.contains(&pyenv_site), "{sites:?}");
        let venv_at = sites.iter().position(|s| s == &venv_site);
        assert!(venv_at < sites.iter().position(|s| s == &pyenv_site));
    }

    #[test]
    fn wheel_directories_are_found_newest_first() {
        let site = tempfile::tempdir().expect("tempdir");
        let make = |rel: &str| {
            let p = site.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
            p
        };
        let cu13 = make("nvidia/cu13/lib/libnvrtc.so.13");
        make("nvidia/cu13/lib/libnvrtc-builtins.so.13.2");
        make("nvidia/cu13/lib/libnvrtc.so.13.alt");
        let cu12 = make("nvidia/cu12/lib/libnvrtc.so.12");
        let old = make("nvidia/cuda_nvrtc/lib/libnvrtc.so.12");
        make("nvidia/cudnn/lib/libnvrtc.so.12");
        let found = wheel_libraries(&[site.path().to_path_buf()]);
        assert_eq!(found, vec![cu13, cu12, old]);
    }
}
