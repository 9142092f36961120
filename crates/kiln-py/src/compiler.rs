//! `Graph`, `Compiler` and `Function`: the Python face of `kiln::{Graph, Compiler,
//! CompiledFunction}`.
use std::path::PathBuf;
use std::sync::Arc;

use kiln::{Backend, CompileOptions, CompiledFunction, Compiler, DynamicPolicy, Tensor};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::dlpack::{KilnArray, tensor_from_capsule};
use crate::errors::{self, to_py};

/// A parsed, validated graph.
#[pyclass(module = "kiln._native", name = "Graph", frozen)]
pub struct PyGraph {
    graph: Arc<kiln::Graph>,
}

#[pymethods]
impl PyGraph {
    /// The graph's name.
    #[getter]
    fn name(&self) -> String {
        self.graph.name.clone()
    }
    /// `(name, dtype, dims)` of each input; a symbolic dim is its symbol's name.
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Vec<String>)> {
        self.graph
            .inputs()
            .iter()
            .map(|d| {
                let dims = d.dims.iter().map(|x| x.to_string()).collect();
                (d.name.clone(), d.dtype.name().to_string(), dims)
            })
            .collect()
    }
    /// The output names.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.graph
            .output_names()
            .into_iter()
            .map(String::from)
            .collect()
    }
    /// The graph in the `.kiln` text format.
    fn __str__(&self) -> String {
        kiln_ir::print(&self.graph)
    }
    fn __repr__(&self) -> String {
        format!(
            "<kiln.Graph {} ({} nodes)>",
            self.graph.name,
            self.graph.len()
        )
    }
}

/// Parses and validates a `.kiln` source.
#[pyfunction]
pub fn parse(text: &str) -> PyResult<PyGraph> {
    let graph = kiln::parse(text).map_err(|e| to_py(e.into()))?;
    Ok(PyGraph {
        graph: Arc::new(graph),
    })
}

fn backend(name: &str) -> PyResult<Backend> {
    match name {
        "cpu" => Ok(Backend::Cpu),
        "cuda" => Ok(Backend::Cuda),
        other => Err(errors::input(format!(
            "backend must be \"cpu\" or \"cuda\", found {other:?}"
        ))),
    }
}

fn dynamic(name: &str) -> PyResult<DynamicPolicy> {
    match name {
        "static" => Ok(DynamicPolicy::Static),
        "dynamic" => Ok(DynamicPolicy::Dynamic),
        "auto" => Ok(DynamicPolicy::Auto),
        other => Err(errors::input(format!(
            "dynamic must be \"static\", \"dynamic\" or \"auto\", found {other:?}"
        ))),
    }
}

/// A compiler with its options and (unless `cache=False`) its on-disk cache.
#[pyclass(module = "kiln._native", name = "Compiler", frozen)]
pub struct PyCompiler {
    compiler: Arc<Compiler>,
}

#[pymethods]
impl PyCompiler {
    /// `cache_dir=None` uses `$KILN_CACHE_DIR` or `~/.cache/kiln`; `cache=False` disables the
    /// disk cache.
    #[new]
    #[pyo3(signature = (cache_dir=None, backend="cpu", dynamic="dynamic", index_limit=None, cache=true))]
    fn new(
        cache_dir: Option<PathBuf>,
        backend: &str,
        dynamic: &str,
        index_limit: Option<i64>,
        cache: bool,
    ) -> PyResult<PyCompiler> {
        let mut opts = CompileOptions::default()
            .backend(self::backend(backend)?)
            .dynamic(self::dynamic(dynamic)?);
        if let Some(dir) = cache_dir {
            opts = opts.cache_dir(dir);
        }
        if !cache {
            opts = opts.no_cache();
        }
        if let Some(limit) = index_limit {
            if limit <= 0 {
                return Err(errors::input(format!(
                    "index_limit must be positive, found {limit}"
                )));
            }
            opts = opts.index_limit(limit);
        }
        Ok(PyCompiler {
            compiler: Arc::new(Compiler::new(opts)),
        })
    }

    /// A callable for `graph`; code is compiled (or loaded from the cache) on the first call
    /// with each new class of shapes.
    fn compile(&self, graph: &PyGraph) -> PyResult<PyFunction> {
        let f = self.compiler.compile(&graph.graph).map_err(to_py)?;
        Ok(PyFunction {
            function: Arc::new(f),
            compiler: self.compiler.clone(),
        })
    }

    /// This compiler's counters: memory, hit, miss, guard_miss, bypass.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        snapshot_dict(py, self.compiler.counters())
    }

    /// Removes every entry of the disk cache (no effect without one).
    fn clear_cache(&self) -> PyResult<()> {
        match self.compiler.cache() {
            Some(cache) => cache
                .clear()
                .map_err(|e| errors::CompileError::new_err(e.to_string())),
            None => Ok(()),
        }
    }

    /// The disk cache's directory, or None without a cache.
    #[getter]
    fn cache_dir(&self) -> Option<PathBuf> {
        self.compiler.cache().map(|c| c.dir().to_path_buf())
    }

    /// The disk cache's statistics (entries, bytes, lifetime counters) as a dict.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(cache) = self.compiler.cache() else {
            return Ok(None);
        };
        let stats = cache
            .stats()
            .map_err(|e| errors::CompileError::new_err(e.to_string()))?;
        let d = PyDict::new(py);
        d.set_item("entries", stats.entries)?;
        d.set_item("bytes", stats.bytes)?;
        d.set_item("keys", stats.keys)?;
        d.set_item("max_size", stats.max_size)?;
        d.set_item("unreadable", stats.unreadable)?;
        let lifetime = cache
            .lifetime_counters()
            .map_err(|e| errors::CompileError::new_err(e.to_string()))?;
        let l = PyDict::new(py);
        let fields = [
            ("hit", lifetime.hit),
            ("miss", lifetime.miss),
            ("guard_miss", lifetime.guard_miss),
            ("bypass", lifetime.bypass),
            ("corrupt", lifetime.corrupt),
            ("stale", lifetime.stale),
            ("untrusted", lifetime.untrusted),
            ("read_error", lifetime.read_error),
            ("write_error", lifetime.write_error),
            ("evicted", lifetime.evicted),
        ];
        for (k, v) in fields {
            l.set_item(k, v)?;
        }
        d.set_item("lifetime", l)?;
        Ok(Some(d))
    }
}

fn snapshot_dict(py: Python<'_>, c: kiln::CounterSnapshot) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("memory", c.memory)?;
    d.set_item("hit", c.hit)?;
    d.set_item("miss", c.miss)?;
    d.set_item("guard_miss", c.guard_miss)?;
    d.set_item("bypass", c.bypass)?;
    Ok(d)
}

/// The process-wide counters, across every compiler.
#[pyfunction]
pub fn counters(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    snapshot_dict(py, kiln::process_counters())
}

/// A compiled graph. Called through `kiln.Function` (python/kiln/_function.py), which turns
/// arrays into DLPack capsules and the results back into arrays of the caller's kind.
#[pyclass(module = "kiln._native", name = "Function", frozen)]
pub struct PyFunction {
    function: Arc<CompiledFunction>,
    compiler: Arc<Compiler>,
}

fn tensors(capsules: Vec<Bound<'_, PyAny>>, role: &str) -> PyResult<Vec<Tensor>> {
    capsules
        .into_iter()
        .enumerate()
        .map(|(i, c)| tensor_from_capsule(c, &format!("{role} {i}")))
        .collect()
}

#[pymethods]
impl PyFunction {
    /// Runs on borrowed inputs (DLPack capsules, one per graph input) and returns fresh
    /// outputs; with `out` (capsules of preallocated outputs), writes into them instead and
    /// returns an empty list. The GIL is released while kiln compiles and runs.
    #[pyo3(signature = (inputs, out=None))]
    fn run(
        &self,
        py: Python<'_>,
        inputs: Vec<Bound<'_, PyAny>>,
        out: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Vec<KilnArray>> {
        let f = &self.function;
        call(py, inputs, out, |i| f.run(i), |i, o| f.run_into(i, o))
    }

    /// The report of the last specialisation: outcome ("memory", "hit", "miss", ...),
    /// compile time in ms and the guards, or None before the first call.
    fn last_report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(r) = self.function.last_report() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("outcome", r.outcome.name())?;
        d.set_item("compile_ms", r.compile_ms)?;
        d.set_item("guards", r.guards)?;
        d.set_item("key", r.key.map(|k| k.to_string()))?;
        Ok(Some(d))
    }

    /// What the cache would do for inputs of these shapes, without compiling: the key, its
    /// components, the entries under it and which guard fails, as JSON (see
    /// `kiln::Explanation`). None without a disk cache.
    fn explain(&self, shapes: Vec<Vec<i64>>) -> PyResult<Option<String>> {
        let Some(cache) = self.compiler.cache() else {
            return Ok(None);
        };
        let dynamic = self.compiler.options().dynamic;
        let e = self
            .function
            .explain(cache, &shapes, dynamic)
            .map_err(to_py)?;
        serde_json::to_string(&e)
            .map(Some)
            .map_err(|e| errors::CompileError::new_err(e.to_string()))
    }

    /// Binds the graph's parameters (name -> DLPack capsule of the weight, borrowed for the
    /// model's lifetime, not copied), checked once; the model is called with data inputs only.
    fn bind(&self, params: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<PyModel> {
        let tensors = params
            .into_iter()
            .map(|(name, cap)| {
                let t = tensor_from_capsule(cap, &format!("parameter `{name}`"))?;
                Ok((name, t))
            })
            .collect::<PyResult<Vec<(String, Tensor)>>>()?;
        let model = kiln::Model::from_shared(self.function.clone(), tensors).map_err(to_py)?;
        Ok(PyModel {
            model: Arc::new(model),
        })
    }

    /// Drops the in-memory specialisations, so the next call goes through the disk cache.
    fn reset(&self) {
        self.function.reset();
    }

    /// The graph's input and output names.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.function
            .graph()
            .inputs()
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.function
            .graph()
            .output_names()
            .into_iter()
            .map(String::from)
            .collect()
    }
}

/// A compiled function with its parameters bound (`Function.bind`): called with the data
/// inputs only.
#[pyclass(module = "kiln._native", name = "Model", frozen)]
pub struct PyModel {
    model: Arc<kiln::Model>,
}

#[pymethods]
impl PyModel {
    /// As `Function.run`, with the data inputs only.
    #[pyo3(signature = (inputs, out=None))]
    fn run(
        &self,
        py: Python<'_>,
        inputs: Vec<Bound<'_, PyAny>>,
        out: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Vec<KilnArray>> {
        let m = &self.model;
        call(py, inputs, out, |i| m.run(i), |i, o| m.run_into(i, o))
    }
}

/// One call of a function or model on borrowed inputs: fresh outputs handed over, or (with
/// `out`) written into the caller's arrays and an empty list returned; the GIL is released
/// while kiln compiles and runs.
fn call(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    out: Option<Vec<Bound<'_, PyAny>>>,
    run: impl Fn(&[&Tensor]) -> Result<Vec<Tensor>, kiln::KilnError> + Sync,
    run_into: impl Fn(&[&Tensor], &mut [Tensor]) -> Result<(), kiln::KilnError> + Sync,
) -> PyResult<Vec<KilnArray>> {
    let inputs = tensors(inputs, "input")?;
    match out {
        None => {
            let outs = py
                .detach(|| run(&inputs.iter().collect::<Vec<_>>()))
                .map_err(to_py)?;
            Ok(outs.into_iter().map(KilnArray::new).collect())
        }
        Some(out) => {
            let mut outs = tensors(out, "out")?;
            py.detach(|| run_into(&inputs.iter().collect::<Vec<_>>(), &mut outs))
                .map_err(to_py)?;
            Ok(Vec::new())
        }
    }
}
