"""The Python API over the native module: graphs, compilers and callable functions."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from kiln import _native
from kiln._arrays import BOUNDARY, from_kiln, to_capsule, wants_torch

Graph = _native.Graph


def parse(text: str) -> Graph:
    """Parses and validates a ``.kiln`` source (raises :class:`kiln.ParseError`)."""
    return _native.parse(text)


class Function:
    """A compiled graph: call it with one array per graph input.

    Returns one array for a one-output graph, else a tuple, of the inputs' kind (torch
    tensors when any input is one, NumPy arrays otherwise). With ``out=[...]`` the results are
    written into those arrays (C-contiguous, of the outputs' dtypes and shapes) and returned.
    """

    def __init__(self, native: Any) -> None:
        self._native = native

    def __call__(self, *inputs: Any, out: Sequence[Any] | None = None) -> Any:
        capsules = [to_capsule(x, f"input {i}") for i, x in enumerate(inputs)]
        if out is not None:
            out_capsules = [to_capsule(o, f"out {i}", writable=True) for i, o in enumerate(out)]
            self._native.run(capsules, out_capsules)
            results = list(out)
        else:
            torch_out = wants_torch(inputs)
            results = [from_kiln(a, torch_out) for a in self._native.run(capsules)]
        return results[0] if len(results) == 1 else tuple(results)

    def last_report(self) -> dict | None:
        """How the last new specialisation was obtained: outcome, compile_ms, guards, key."""
        return self._native.last_report()

    def explain(self, *shapes: Sequence[int]) -> dict | None:
        """What the cache would do for inputs of these shapes, without compiling: the key, its
        components, the entries under it, which guard fails, and the verdict ("hit",
        "guard_miss" or "miss"). None without a disk cache."""
        text = self._native.explain([list(s) for s in shapes])
        return None if text is None else json.loads(text)

    def bind(self, params: dict) -> Model:
        """Binds the graph's parameters (``param w: ...``) by name, checked once; the returned
        :class:`Model` is called with the data inputs only. The arrays are borrowed (not
        copied) for the model's lifetime."""
        caps = [(name, to_capsule(a, f"parameter {name}")) for name, a in params.items()]
        return Model(self._native.bind(caps))

    def reset(self) -> None:
        """Forgets in-memory specialisations: the next call goes through the disk cache."""
        self._native.reset()

    @property
    def input_names(self) -> list:
        return self._native.input_names

    @property
    def output_names(self) -> list:
        return self._native.output_names


class Model:
    """A :class:`Function` with its parameters bound: call it with the data inputs."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def __call__(self, *inputs: Any, out: Sequence[Any] | None = None) -> Any:
        capsules = [to_capsule(x, f"input {i}") for i, x in enumerate(inputs)]
        if out is not None:
            self._native.run(capsules, [to_capsule(o, f"out {i}", True) for i, o in enumerate(out)])
            results = list(out)
        else:
            torch_out = wants_torch(inputs)
            results = [from_kiln(a, torch_out) for a in self._native.run(capsules)]
        return results[0] if len(results) == 1 else tuple(results)


class Compiler:
    """Compiles graphs through kiln's guarded cache.

    ``cache_dir=None`` uses ``$KILN_CACHE_DIR`` or ``~/.cache/kiln``; ``cache=False`` disables
    the disk cache. ``backend`` is ``"cpu"`` or ``"cuda"``; ``dynamic`` is ``"static"``,
    ``"dynamic"`` or ``"auto"`` (PyTorch's ``dynamic=``); ``index_limit`` lowers the element
    count from which kernels index with 64 bits (part of the cache key).
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike | None = None,
        backend: str = "cpu",
        dynamic: str = "dynamic",
        index_limit: int | None = None,
        cache: bool = True,
    ) -> None:
        path = None if cache_dir is None else os.fspath(cache_dir)
        self._native = _native.Compiler(path, backend, dynamic, index_limit, cache)

    def compile(self, graph: Graph | str) -> Function:
        """A callable for ``graph`` (a :class:`Graph` or ``.kiln`` text)."""
        if isinstance(graph, str):
            graph = parse(graph)
        return Function(self._native.compile(graph))

    def counters(self) -> dict:
        """This compiler's outcomes: memory, hit, miss, guard_miss, bypass."""
        return self._native.counters()

    def cache_stats(self) -> dict | None:
        """The disk cache's entries, bytes and lifetime counters, or None without a cache."""
        return self._native.cache_stats()

    def clear_cache(self) -> None:
        """Removes every entry of the disk cache (no effect without one)."""
        self._native.clear_cache()

    @property
    def cache_dir(self) -> str | None:
        return self._native.cache_dir


def counters() -> dict:
    """Process-wide outcomes of every compiler, plus the array boundary's copies
    (``contiguous_copies``: non-contiguous or read-only inputs copied once)."""
    c = dict(_native.counters())
    c.update(BOUNDARY)
    return c


def cache_stats(cache_dir: str | os.PathLike | None = None) -> dict | None:
    """Statistics of the cache at ``cache_dir`` (default: ``$KILN_CACHE_DIR`` or
    ``~/.cache/kiln``)."""
    return Compiler(cache_dir=cache_dir).cache_stats()


__all__ = ["Compiler", "Function", "Graph", "Model", "cache_stats", "counters", "parse", "np"]
