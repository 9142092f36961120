//! `kiln._native`: the Python package's native module (see `python/kiln/__init__.py`, which
//! wraps it). Arrays cross the boundary through DLPack without copies: inputs are borrowed
//! from NumPy arrays or torch tensors for the duration of a call, outputs are kiln's buffers
//! handed over to `numpy.from_dlpack` / `torch.from_dlpack`. Kernels run with the GIL released.
use pyo3::prelude::*;

mod compiler;
mod dlpack;
mod errors;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<compiler::PyGraph>()?;
    m.add_class::<compiler::PyCompiler>()?;
    m.add_class::<compiler::PyFunction>()?;
    m.add_class::<compiler::PyModel>()?;
    m.add_class::<dlpack::KilnArray>()?;
    m.add_function(wrap_pyfunction!(compiler::parse, m)?)?;
    m.add_function(wrap_pyfunction!(compiler::counters, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
