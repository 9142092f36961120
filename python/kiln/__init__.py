"""kiln: a tensor compiler with a guarded on-disk graph cache.

>>> import numpy as np, kiln
>>> g = kiln.parse("graph g\\ninput x: f32[N]\\ny = relu(x)\\noutput y")
>>> f = kiln.Compiler().compile(g)
>>> f(np.array([-1.0, 2.0], dtype=np.float32))
array([0., 2.], dtype=float32)

Arrays cross into kiln without copies (DLPack): NumPy arrays in give NumPy arrays out, torch
tensors in give torch tensors out. ``torch.compile(fn, backend="kiln")`` works once this
package is installed (see :mod:`kiln.torch`).
"""

from kiln._api import Compiler, Function, Graph, Model, cache_stats, counters, parse
from kiln._native import (
    BackendUnavailable,
    CompileError,
    GraphError,
    InputError,
    KilnError,
    ParseError,
    ShapeError,
    __version__,
)

__all__ = [
    "BackendUnavailable",
    "CompileError",
    "Compiler",
    "Function",
    "Graph",
    "GraphError",
    "InputError",
    "KilnError",
    "Model",
    "ParseError",
    "ShapeError",
    "__version__",
    "cache_stats",
    "counters",
    "parse",
]
