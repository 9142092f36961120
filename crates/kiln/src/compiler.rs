//! The compiler: options plus the cache it compiles through.
use std::sync::Arc;

use kiln_cache::{Cache, CacheConfig};
use kiln_ir::{Graph, IrError};
use kiln_sched::Program;
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

use crate::error::KilnError;
use crate::function::CompiledFunction;
use crate::options::{CacheSetting, CompileOptions, DynamicPolicy};
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

    /// The kernel IR `graph` is scheduled to for inputs of these shapes, as a first call with
    /// them would schedule it (under auto, that is static), without codegen, cache or device:
    /// what `kiln compile --emit` prints the code of, through [`crate::emit`].
    pub fn schedule(&self, graph: &Graph, shapes: &[Vec<i64>]) -> Result<Program, KilnError> {
        kiln_ir::validate(graph)?;
        let decls = graph.input_dims();
        let values = bind_symbols(&decls, shapes).map_err(IrError::from)?;
        let policy = match self.inner.opts.dynamic {
            DynamicPolicy::Static | DynamicPolicy::Auto => Policy::Static,
            DynamicPolicy::Dynamic => Policy::Dynamic,
        };
        let mut env = ShapeEnv::new();
        let inputs = specialize_inputs(&mut env, &decls, &values, &policy).map_err(|source| {
            IrError::Shape {
                node: "inputs".into(),
                op: "specialize".into(),
                source,
            }
        })?;
        Ok(kiln_sched::schedule(
            graph,
            &mut env,
            &inputs,
            &self.inner.opts.sched,
        )?)
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
