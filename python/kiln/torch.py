"""``torch.compile(fn, backend="kiln")``: kiln as a TorchDynamo backend.

Dynamo captures an FX graph; AOTAutograd lowers it to core ATen (forward and, for training,
backward graphs); each graph is partitioned into the pieces kiln can compile
(``CapabilityBasedPartitioner`` with the op table in :mod:`kiln._aten`), and the rest runs
eagerly in PyTorch (one log line per graph lists what fell back). Dynamo's symbolic sizes
(``s0``, ``s1``) become kiln symbols, and kiln's compiled function checks kiln's own guards on
every call, so a kiln-only guard (32-bit indexing, pooling specialisation) is never bypassed.
Every compile goes through kiln's disk cache: after ``torch._dynamo.reset()`` a new call hits.

Options: ``torch.compile(fn, backend=kiln.torch.backend(cache_dir=..., index_limit=...,
dynamic=...))``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch

import kiln
from kiln import _fx

log = logging.getLogger("kiln.torch")


class Options:
    """What a backend instance compiles with (``dynamic=None`` follows Dynamo's shapes)."""

    def __init__(
        self,
        cache_dir: str | None = None,
        index_limit: int | None = None,
        dynamic: str | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.index_limit = index_limit
        self.dynamic = dynamic
        self._compilers: dict = {}

    def compiler(self, dynamic: str) -> kiln.Compiler:
        mode = self.dynamic or dynamic
        if mode not in self._compilers:
            self._compilers[mode] = kiln.Compiler(
                cache_dir=self.cache_dir, dynamic=mode, index_limit=self.index_limit
            )
        return self._compilers[mode]


def _compile_aten(gm: torch.fx.GraphModule, example_inputs: Any, options: Options) -> Callable:
    compiled = _fx.compile_graph_module(gm, options)
    return compiled


def backend(
    cache_dir: str | None = None,
    index_limit: int | None = None,
    dynamic: str | None = None,
) -> Callable:
    """A kiln backend with these options, for ``torch.compile(fn, backend=...)``."""
    from torch._decomp import core_aten_decompositions
    from torch._dynamo.backends.common import aot_autograd

    options = Options(cache_dir=cache_dir, index_limit=index_limit, dynamic=dynamic)

    from functorch.compile import make_boxed_func

    def compile_graph(gm: torch.fx.GraphModule, example_inputs: Any) -> Callable:
        return make_boxed_func(_compile_aten(gm, example_inputs, options))

    return aot_autograd(
        fw_compiler=compile_graph,
        bw_compiler=compile_graph,
        inference_compiler=compile_graph,
        decompositions=core_aten_decompositions(),
    )


_default: Callable | None = None


def kiln_backend(gm: torch.fx.GraphModule, example_inputs: Any, **kwargs: Any) -> Callable:
    """The backend ``torch.compile(fn, backend="kiln")`` uses (default options)."""
    global _default
    if _default is None:
        _default = backend()
    return _default(gm, example_inputs, **kwargs)


def clear_cache(cache_dir: str | None = None) -> None:
    """Empties kiln's disk cache (``cache_dir=None``: the default one), as
    ``FxGraphCache.clear()`` does for Inductor's."""
    kiln.Compiler(cache_dir=cache_dir).clear_cache()


def fallback_ops() -> set:
    """The ATen ops that ran eagerly in PyTorch (not in kiln) since the last
    ``clear_fallback_ops()``: ops kiln has no lowering for, and ops of partitions kiln refused."""
    return set(_fx.FALLBACK_OPS)


def clear_fallback_ops() -> None:
    _fx.FALLBACK_OPS.clear()


def kiln_seconds() -> float:
    """Seconds spent in kiln itself by the torch backend in this process: translating
    partitions, compiling or loading them from the cache, and their first runs."""
    return _fx.KILN_SECONDS[0]


def first_run_seconds() -> float:
    """Of :func:`kiln_seconds`, the first runs of compiled partitions (cache loads and kernel
    proofs on a hit are in them, and the model's compute); the rest is translating partitions
    and compiling them or loading them from the cache."""
    return _fx.FIRST_RUN_SECONDS[0]


def counters() -> dict:
    """kiln's process counters (also mirrored in ``torch._dynamo.utils.counters["kiln"]``)."""
    return kiln.counters()
