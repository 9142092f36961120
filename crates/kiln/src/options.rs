//! Compile options: which backend, how shapes specialise, where the cache lives.
use std::path::PathBuf;

use kiln_sched::SchedOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Backend {
    /// Cranelift machine code on the host CPU.
    Cpu,
    /// NVRTC-compiled CUDA kernels on the first NVIDIA GPU.
    Cuda,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// How symbolic dims become sizes (PyTorch's `dynamic=` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DynamicPolicy {
    /// Every dim is specialised to its value: one cache entry per shape.
    Static,
    /// Declared symbols stay symbolic (sizes 0 and 1 are specialised): one entry serves a class.
    Dynamic,
    /// Static first; a symbol whose value changes between calls becomes dynamic
    /// (PyTorch's automatic dynamic shapes).
    Auto,
}

/// Where compiled code is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSetting {
    /// No disk cache: every new specialisation compiles.
    Disabled,
    /// `$KILN_CACHE_DIR`, else the platform cache dir (`~/.cache/kiln`).
    FromEnv,
    /// This directory.
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub backend: Backend,
    pub dynamic: DynamicPolicy,
    pub cache: CacheSetting,
    /// Codegen knobs; every one is part of the cache key.
    pub sched: SchedOptions,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            backend: Backend::Cpu,
            dynamic: DynamicPolicy::Dynamic,
            cache: CacheSetting::FromEnv,
            sched: SchedOptions::default(),
        }
    }
}

impl CompileOptions {
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = b;
        self
    }
    pub fn dynamic(mut self, d: DynamicPolicy) -> Self {
        self.dynamic = d;
        self
    }
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = CacheSetting::Dir(dir.into());
        self
    }
    pub fn no_cache(mut self) -> Self {
        self.cache = CacheSetting::Disabled;
        self
    }
    /// Lowers the element count from which kernels switch to 64-bit indexing (tests use it to
    /// cross the limit with small tensors).
    pub fn index_limit(mut self, limit: i64) -> Self {
        self.sched.index_limit = limit;
        self
    }
}
