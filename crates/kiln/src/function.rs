//! A compiled function: its in-memory specialisations and the path through the cache.
//!
//! A call first checks the in-memory specialisations' guards against the concrete sizes (no
//! hashing). If none holds it builds a ShapeEnv from the inputs, computes the key and goes
//! through the guarded cache: a hit loads the stored artifact and keeps the entry's guards
//! with the specialisation; a miss schedules, generates code and stores it.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use kiln_cache::{Entry, EntryHeader, EntryMeta, Lookup, PutOutcome};
use kiln_ir::{Graph, IrError};
use kiln_shape::{
    Bindings, Dim, Expr, GuardSet, Policy, ShapeEnv, bind_shapes, bind_symbols, specialize_inputs,
};

use crate::backend::{self, ARTIFACT_FORMAT, Executable};
use crate::compiler::CompilerInner;
use crate::error::KilnError;
use crate::key::{self, KeyComponent};
use crate::options::DynamicPolicy;
use crate::stats::{CompileReport, Outcome, PROCESS, Phases};

mod call;

/// Graphs up to this many nodes are compiled on the caller's thread.
const LARGE_GRAPH_NODES: usize = 256;
/// Stack reserved per graph node for a large graph's compile (virtual memory: pages are only
/// backed as the recursion reaches them). Debug builds use several KiB per nesting level.
const STACK_PER_NODE: usize = 64 << 10;
const MAX_COMPILE_STACK: usize = 4 << 30;

/// One specialisation: valid for inputs of these shapes whenever `guards` hold.
pub(crate) struct Specialization {
    pub inputs: Vec<Vec<Expr>>,
    pub guards: GuardSet,
    pub exec: Arc<Executable>,
    pub report: CompileReport,
    /// The cache entry it was loaded from: discarded if its program refuses a later call.
    pub origin: Option<Entry>,
}

#[derive(Default)]
struct State {
    specs: Vec<Arc<Specialization>>,
    /// Auto policy: the first value seen of each symbol, and the symbols seen to change.
    seen: BTreeMap<String, i64>,
    dynamic: BTreeSet<String>,
    last: Option<CompileReport>,
}

/// The environment, specialised input shapes, key components and target of one call's shapes.
pub(crate) type KeyedSpecialization = (ShapeEnv, Vec<Vec<Expr>>, Vec<KeyComponent>, String);

/// A graph compiled on demand for the shapes it is called with.
pub struct CompiledFunction {
    compiler: Arc<CompilerInner>,
    graph: Graph,
    graph_key: KeyComponent,
    decls: Vec<(String, Vec<Dim>)>,
    /// Each input's declared dims as expressions, built once: a call binds against them
    /// without converting the declarations again.
    decl_exprs: Vec<Vec<Expr>>,
    /// The inputs a call checks: every input, or only the data inputs (parameters bound
    /// with [`CompiledFunction::bind`] were checked once, then).
    all_inputs: Vec<usize>,
    data_inputs: Vec<usize>,
    state: Mutex<State>,
}

/// Which of a call's tensors were checked before the call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// None: every input is passed with the call.
    Nothing,
    /// The parameters, when they were bound.
    Params,
}

impl CompiledFunction {
    pub(crate) fn new(compiler: Arc<CompilerInner>, graph: Graph) -> CompiledFunction {
        let graph_key = key::graph_component(&graph);
        let decls = graph.input_dims();
        let decl_exprs = decls
            .iter()
            .map(|(_, dims)| dims.iter().map(Dim::to_expr).collect())
            .collect();
        let all_inputs = (0..decls.len()).collect();
        let data_inputs = (graph.inputs().iter().enumerate())
            .filter(|(_, d)| !d.is_param())
            .map(|(i, _)| i)
            .collect();
        CompiledFunction {
            compiler,
            graph,
            graph_key,
            decls,
            decl_exprs,
            all_inputs,
            data_inputs,
            state: Mutex::new(State::default()),
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles (or loads) the specialisation for inputs of these shapes without running it:
    /// fills the cache ahead of time (`kiln compile`).
    pub fn prepare(&self, shapes: &[Vec<i64>]) -> Result<CompileReport, KilnError> {
        self.specialize(shapes).map(|(_, r)| r)
    }

    /// The executable serving these shapes (compiling it if needed), e.g. to print its code.
    pub fn executable(&self, shapes: &[Vec<i64>]) -> Result<Arc<Executable>, KilnError> {
        self.specialize(shapes).map(|(s, _)| s.exec.clone())
    }

    /// Drops the in-memory specialisations (the seed's `torch._dynamo.reset()`): the next call
    /// goes through the cache.
    pub fn reset(&self) {
        let mut st = self.state();
        st.specs.clear();
        st.seen.clear();
        st.dynamic.clear();
    }

    /// The report of the last specialisation this function obtained (not of memory reuse).
    pub fn last_report(&self) -> Option<CompileReport> {
        self.state().last.clone()
    }

    fn specialize(
        &self,
        shapes: &[Vec<i64>],
    ) -> Result<(Arc<Specialization>, CompileReport), KilnError> {
        let mut st = self.state();
        // Guards may name symbols that a specialisation fixed to constants (`N == 4`), so they
        // are evaluated on every declared symbol's value, not only on the symbolic ones.
        if let Ok(values) = bind_symbols(&self.decls, shapes) {
            for spec in &st.specs {
                let specs: Vec<(&str, &[Expr])> = self
                    .decls
                    .iter()
                    .zip(&spec.inputs)
                    .map(|((name, _), dims)| (name.as_str(), dims.as_slice()))
                    .collect();
                let fits = bind_shapes(&specs, shapes).is_ok();
                if fits && spec.guards.eval(&values) == Ok(true) {
                    self.count(&Outcome::Memory);
                    let mut report = spec.report.clone();
                    report.outcome = Outcome::Memory;
                    return Ok((spec.clone(), report));
                }
            }
        }
        let spec = Arc::new(self.build(&mut st, shapes)?);
        st.specs.push(spec.clone());
        st.last = Some(spec.report.clone());
        Ok((spec.clone(), spec.report.clone()))
    }

    fn count(&self, o: &Outcome) {
        self.compiler.counters.count(o);
        PROCESS.count(o);
    }

    fn policy(&self, st: &mut State, values: &Bindings) -> Policy {
        match self.compiler.opts.dynamic {
            DynamicPolicy::Static => Policy::Static,
            DynamicPolicy::Dynamic => Policy::Dynamic,
            DynamicPolicy::Auto => {
                for (s, &v) in &values.0 {
                    match st.seen.get(s) {
                        Some(&first) if first != v => {
                            st.dynamic.insert(s.clone());
                        }
                        Some(_) => {}
                        None => {
                            st.seen.insert(s.clone(), v);
                        }
                    }
                }
                Policy::DynamicSymbols(st.dynamic.clone())
            }
        }
    }

    /// Builds the environment, the specialised input shapes and the key for these symbol values.
    pub(crate) fn key_for(
        &self,
        values: &Bindings,
        policy: &Policy,
    ) -> Result<KeyedSpecialization, KilnError> {
        let mut env = ShapeEnv::new();
        let inputs =
            specialize_inputs(&mut env, &self.decls, values, policy).map_err(|source| {
                IrError::Shape {
                    node: "inputs".into(),
                    op: "specialize".into(),
                    source,
                }
            })?;
        let target = backend::target_id(self.compiler.opts.backend)?;
        let comps = key::components(
            &self.graph_key,
            &self.graph,
            &inputs,
            &self.compiler.opts,
            &target,
        );
        Ok((env, inputs, comps, target))
    }

    fn build(&self, st: &mut State, shapes: &[Vec<i64>]) -> Result<Specialization, KilnError> {
        let t0 = Instant::now();
        let mut phases = Phases::default();
        let mut lap = Lap::start();
        let values = bind_symbols(&self.decls, shapes).map_err(IrError::from)?;
        let policy = self.policy(st, &values);
        phases.bind_us = lap.us();
        let (mut env, inputs, comps, target) = self.key_for(&values, &policy)?;
        let cache_key = key::key_of(&comps);
        phases.key_us = lap.us();
        let opts = &self.compiler.opts;
        let backend_kind = opts.backend;

        let Some(cache) = &self.compiler.cache else {
            let (exec, _) = self.generate(&mut env, &inputs)?;
            phases.codegen_us = lap.us();
            let outcome = Outcome::Bypass(self.compiler.bypass_reason.clone());
            let guards = env.produce_guards();
            return Ok(self.finish(t0, phases, outcome, None, comps, guards, inputs, exec));
        };
        let header = EntryHeader {
            format_version: ARTIFACT_FORMAT,
            kiln_version: key::kiln_identity(),
            backend: backend_kind.name().into(),
            target,
        };
        let hints = env.hints();
        let mut loaded = None;
        // Guards are evaluated on the hints first (no side effects, and from the key's guard
        // index, so only an admitted entry is read); only then is its code loaded.
        let (mut guards_s, mut load_s) = (0.0, 0.0);
        let mut admit = |guards: &GuardSet| {
            let t = Instant::now();
            let ok = guards.eval(&hints) == Ok(true);
            guards_s += t.elapsed().as_secs_f64();
            ok
        };
        // A program that refuses this call's inputs (its launcher would) is as unusable as
        // code the backend cannot load: both are damaged entries, discarded and recompiled.
        let graph = &self.graph;
        let mut accept = |entry: &Entry, name: &str| {
            let t = Instant::now();
            let result = backend::load(backend_kind, &entry.artifact, name)
                .map_err(|e| e.to_string())
                .and_then(|exec| match refusal(graph, &exec, &inputs, shapes) {
                    None => Ok(exec),
                    Some(reason) => Err(reason),
                });
            load_s += t.elapsed().as_secs_f64();
            match result {
                Ok(exec) => {
                    loaded = Some(exec);
                    true
                }
                Err(reason) => {
                    cache.discard(entry, &reason);
                    false
                }
            }
        };
        // A hit needs no lock and no listing of the key (entries are published whole: see
        // kiln-cache `cache/fast.rs`); only when the guard index serves nothing is the lock
        // taken, held across the full lookup, compile and store, so that two processes
        // compiling the same graph compile it once. A lock that cannot be taken only costs
        // that guarantee.
        let mut lock = None;
        let lookup = match cache.get_indexed(&cache_key, &header, &mut admit, &mut accept) {
            Some(entry) => Lookup::Hit(entry),
            None => {
                let t = Instant::now();
                lock = cache
                    .lock(&cache_key)
                    .map_err(|e| {
                        tracing::warn!(target: "kiln", "cache lock unavailable, compiling anyway: {e}")
                    })
                    .ok();
                phases.lock_us = t.elapsed().as_secs_f64() * 1e6;
                cache.get_guarded(&cache_key, &header, &mut admit, &mut accept)
            }
        };
        (phases.guards_us, phases.load_us) = (guards_s * 1e6, load_s * 1e6);
        let others = phases.guards_us + phases.load_us + phases.lock_us;
        phases.read_us = (lap.us() - others).max(0.0);
        let outcome = match lookup {
            Lookup::Hit(entry) => {
                // The entry's guards are kept with the specialisation; the environment is not
                // used after a hit, so they are not recorded into it.
                let exec = loaded.expect("a hit was accepted with a loaded executable");
                let mut spec = self.finish(
                    t0,
                    phases,
                    Outcome::Hit,
                    Some(cache_key),
                    comps,
                    entry.guards.clone(),
                    inputs,
                    exec,
                );
                spec.origin = Some(entry);
                return Ok(spec);
            }
            Lookup::GuardMiss { .. } => Outcome::GuardMiss,
            Lookup::Miss => Outcome::Miss,
        };
        let (exec, artifact) = self.generate(&mut env, &inputs)?;
        let guards = env.produce_guards();
        phases.codegen_us = lap.us();
        let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
        let created_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let meta = EntryMeta {
            graph_name: self.graph.name.clone(),
            compile_ms,
            created_unix_ms,
            key_components: comps
                .iter()
                .map(|c| (c.name.clone(), format!("{} {}", &c.hash[..16], c.value)))
                .collect(),
        };
        let entry = Entry {
            header,
            key: cache_key,
            guards: guards.clone(),
            artifact,
            meta,
        };
        // An entry the cache cannot keep makes this compile a bypass, with the reason: a
        // "miss" would promise a hit next time.
        // The write runs on a store thread holding the lock (see kiln-cache `put_later`):
        // the caller runs its code while the entry reaches the disk.
        let outcome = match cache.put_later(&entry, lock) {
            Ok(PutOutcome::TooLarge { size, max_size }) => Outcome::Bypass(format!(
                "the entry ({size} bytes) is larger than the cache's size limit \
                 (KILN_CACHE_MAX_SIZE, {max_size} bytes), so it is not stored"
            )),
            Ok(_) => outcome,
            Err(e) => {
                tracing::debug!(target: "kiln", "cache entry not stored: {e}");
                outcome
            }
        };
        phases.store_us = lap.us();
        Ok(self.finish(
            t0,
            phases,
            outcome,
            Some(cache_key),
            comps,
            guards,
            inputs,
            exec,
        ))
    }

    /// Schedules and generates code in `env`. kiln-sched lowers a kernel recursively (a chain
    /// of n fused nodes nests n calls), so a large graph is compiled on a thread whose stack
    /// is sized to it instead of overflowing the caller's (an abort).
    fn generate(
        &self,
        env: &mut ShapeEnv,
        inputs: &[Vec<Expr>],
    ) -> Result<(Arc<Executable>, Vec<u8>), KilnError> {
        let mut run = || {
            let program =
                kiln_sched::schedule(&self.graph, env, inputs, &self.compiler.opts.sched)?;
            backend::compile(self.compiler.opts.backend, &program)
        };
        let nodes = self.graph.len();
        if nodes <= LARGE_GRAPH_NODES {
            return run();
        }
        let run = move || run();
        let stack = nodes
            .saturating_mul(STACK_PER_NODE)
            .clamp(8 << 20, MAX_COMPILE_STACK);
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("kiln-compile".into())
                .stack_size(stack)
                .spawn_scoped(scope, run)
                .map_err(KilnError::CompileThread)?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        t0: Instant,
        mut phases: Phases,
        outcome: Outcome,
        key: Option<kiln_cache::CacheKey>,
        components: Vec<KeyComponent>,
        guards: GuardSet,
        inputs: Vec<Vec<Expr>>,
        exec: Arc<Executable>,
    ) -> Specialization {
        let finish_start = Instant::now();
        let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
        self.count(&outcome);
        let key_text = key.map(|k| k.to_string()).unwrap_or_default();
        let key_short = key_text.get(..12).unwrap_or("");
        let ms = format!("{compile_ms:.3}");
        // A bypass says why; other outcomes have no reason to show (no empty `reason=""`).
        match &outcome {
            Outcome::Bypass(reason) => {
                tracing::info!(target: "kiln", graph = %self.graph.name, outcome = outcome.name(), key = %key_short, compile_ms = ms, reason = %reason, "compiled");
            }
            _ => {
                tracing::info!(target: "kiln", graph = %self.graph.name, outcome = outcome.name(), key = %key_short, compile_ms = ms, "compiled");
            }
        }
        tracing::debug!(target: "kiln", guards = %guards, "guards");
        tracing::debug!(target: "kiln", phases = ?phases, "phases");
        for c in &components {
            tracing::debug!(target: "kiln", component = %c.name, hash = %&c.hash[..16], value = %c.value, "key component");
        }
        phases.finish_us = finish_start.elapsed().as_secs_f64() * 1e6;
        let report = CompileReport {
            outcome,
            key,
            components,
            compile_ms,
            guards: guards.to_string(),
            phases,
        };
        Specialization {
            inputs,
            guards,
            exec,
            report,
            origin: None,
        }
    }
}

/// Why `exec` cannot serve inputs of these shapes for `graph`, if it cannot: its inputs or
/// outputs disagree with the graph's, its input specs refuse the shapes, or its kernels would
/// access memory outside their buffers at these sizes (`kiln_sched::Program::check_accesses`).
fn refusal(
    graph: &Graph,
    exec: &Executable,
    specialised: &[Vec<Expr>],
    shapes: &[Vec<i64>],
) -> Option<String> {
    let program = exec.program();
    let decls = graph.inputs();
    if program.inputs.len() != decls.len() || program.outputs.len() != graph.outputs().len() {
        return Some(format!(
            "its program has {} inputs and {} outputs, the graph {} and {}",
            program.inputs.len(),
            program.outputs.len(),
            decls.len(),
            graph.outputs().len()
        ));
    }
    for ((spec, decl), dims) in program.inputs.iter().zip(decls).zip(specialised) {
        if spec.dtype != decl.dtype {
            return Some(format!(
                "its input `{}` is {}, the graph's `{}` is {}",
                spec.name, spec.dtype, decl.name, decl.dtype
            ));
        }
        // The driver checks a call against the specialised shapes and hands the launcher the
        // symbols it bound, so the program must declare exactly those shapes.
        if spec.shape != *dims {
            return Some(format!(
                "its input `{}` has shape {:?}, the specialisation {:?}",
                spec.name, spec.shape, dims
            ));
        }
    }
    let specs: Vec<(&str, &[Expr])> = program
        .inputs
        .iter()
        .map(|s| (s.name.as_str(), s.shape.as_slice()))
        .collect();
    let values = match bind_shapes(&specs, shapes) {
        Ok(values) => values,
        Err(e) => return Some(format!("its program refuses the inputs: {e}")),
    };
    let syms = program
        .symbols
        .iter()
        .map(|s| values.get(s).ok_or(s))
        .collect::<Result<Vec<i64>, _>>();
    match syms {
        Ok(syms) => exec.prove_accesses(&syms).err().map(|e| e.to_string()),
        Err(s) => Some(format!("no input binds its symbol `{s}`")),
    }
}

/// Microseconds since the previous lap (for [`Phases`]).
struct Lap(Instant);

impl Lap {
    fn start() -> Lap {
        Lap(Instant::now())
    }
    fn us(&mut self) -> f64 {
        let now = Instant::now();
        let us = (now - self.0).as_secs_f64() * 1e6;
        self.0 = now;
        us
    }
}
