//! kiln's errors as Python exception classes: one base, `kiln.KilnError`, and a subclass per
//! kind of problem a caller may want to catch, each carrying kiln's message.
use kiln::KilnError;
use kiln_ir::IrError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    kiln,
    Error,
    PyException,
    "Base class of every error kiln raises."
);
create_exception!(
    kiln,
    ParseError,
    Error,
    "A .kiln source that does not parse."
);
create_exception!(
    kiln,
    GraphError,
    Error,
    "A graph that is not valid (dtypes, ranks, arguments)."
);
create_exception!(
    kiln,
    ShapeError,
    Error,
    "Shapes that do not fit the graph or its guards."
);
create_exception!(
    kiln,
    InputError,
    Error,
    "Call arguments that do not match the graph's inputs."
);
create_exception!(
    kiln,
    BackendUnavailable,
    Error,
    "A backend this build or machine lacks."
);
create_exception!(
    kiln,
    CompileError,
    Error,
    "Code generation or a backend failed."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KilnError", py.get_type::<Error>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("GraphError", py.get_type::<GraphError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("BackendUnavailable", py.get_type::<BackendUnavailable>())?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    Ok(())
}

/// The exception class for an IR error.
fn ir_error(e: &IrError) -> PyErr {
    let msg = e.to_string();
    match e {
        IrError::Parse { .. } => ParseError::new_err(msg),
        IrError::Shape { .. } => ShapeError::new_err(msg),
        IrError::Bind(_) | IrError::Input(_) => InputError::new_err(msg),
        _ => GraphError::new_err(msg),
    }
}

/// The exception class for a kiln error, with kiln's message.
pub(crate) fn to_py(e: KilnError) -> PyErr {
    let msg = e.to_string();
    match &e {
        KilnError::Ir(ir) => ir_error(ir),
        KilnError::Sched(_) => ShapeError::new_err(msg),
        KilnError::Input(_) => InputError::new_err(msg),
        KilnError::BackendUnavailable { .. } => BackendUnavailable::new_err(msg),
        _ => CompileError::new_err(msg),
    }
}

/// An input error raised at the boundary (before kiln sees the call).
pub(crate) fn input(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}
