//! The compiler: options plus the cache it compiles through.
use std::sync::Arc;

use kiln_cache::{Cache, CacheConfig};
use kiln_ir::Graph;

use crate::error::KilnError;
use crate::function::CompiledFunction;
use crate::options::{CacheSetting, CompileOptions};
use crate::stats::{CounterSnapshot, Counters};

pub(crate) struct CompilerInner {
    pub opts: CompileOptions,
    pub cache: Option<Cache>,
    /// Why the cache is not used, when it is not.
    pub bypass_reason: String,
    pub counters: Counters,
}

/// Compiles graphs through the guarded cache. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Compiler {
    inner: Arc<CompilerInner>,
}

impl Compiler {
    /// A compiler with these options. A cache directory that cannot be used (not private, not
    /// a directory, not creatable) never fails: compiles bypass the cache, with one warning.
    pub fn new(opts: CompileOptions) -> Compiler {
        let config = match &opts.cache {
            CacheSetting::Disabled => None,
            CacheSetting::FromEnv => Some(CacheConfig::from_env()),
            CacheSetting::Dir(d) => Some(CacheConfig {
                dir: d.clone(),
                ..CacheConfig::from_env()
            }),
        };
        let (cache, bypass_reason) = match config.map(Cache::open) {
            None => (None, "the cache is disabled".to_string()),
            Some(Ok(c)) => (Some(c), String::new()),
            Some(Err(e)) => {
                tracing::warn!(target: "kiln", "compiling without the cache: {e}");
                (None, format!("the cache is unusable: {e}"))
            }
        };
        Compiler {
            inner: Arc::new(CompilerInner {
                opts,
                cache,
                bypass_reason,
                counters: Counters::default(),
            }),
        }
    }

    /// Validates `graph` and returns a function that specialises and compiles on first use
    /// (or ahead of time through [`CompiledFunction::prepare`]).
    pub fn compile(&self, graph: &Graph) -> Result<CompiledFunction, KilnError> {
        kiln_ir::validate(graph)?;
        Ok(CompiledFunction::new(self.inner.clone(), graph.clone()))
    }

    pub fn options(&self) -> &CompileOptions {
        &self.inner.opts
    }

    /// The cache this compiler uses, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// Outcomes of this compiler's specialisations so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.counters.snapshot()
    }
}
