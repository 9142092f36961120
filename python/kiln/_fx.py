"""FX graphs (core ATen, from AOTAutograd) to kiln: partitioning, translation, and the
modules that call kiln in place of the pieces it compiles."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import torch
import torch.fx
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupport

import kiln
from kiln import _aten

log = logging.getLogger("kiln.torch")

# Op names that ran eagerly since the last `kiln.torch.clear_fallback_ops()`.
FALLBACK_OPS: set = set()
# Seconds spent in kiln itself (translation, compile or cache load, first runs), for the
# benchmark's split of a first call into kiln's share and Dynamo's and AOTAutograd's; and of
# it, the first runs (the model's own compute, which any backend's first call contains).
KILN_SECONDS = [0.0]
FIRST_RUN_SECONDS = [0.0]

_DTYPES = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.bool: "bool",
}


def kiln_dtype(dtype: Any) -> str | None:
    return _DTYPES.get(dtype)


class _Support(OperatorSupport):
    def is_node_supported(self, submodules: Any, node: torch.fx.Node) -> bool:
        return node.op == "call_function" and _aten.supported(node)


def _op_name(node: torch.fx.Node) -> str:
    return str(getattr(node.target, "__name__", node.target))


class KilnSubgraph(torch.nn.Module):
    """Runs one partition with kiln; falls back to the partition's FX module (eager PyTorch)
    if kiln refuses it, logging why once."""

    def __init__(self, name: str, sub: torch.fx.GraphModule, options: Any) -> None:
        super().__init__()
        start = time.perf_counter()
        self.name = name
        self.eager = sub
        self.fn: kiln.Function | None = None
        self.ready = False
        try:
            t = _aten.translate(name, sub)
            self.text, self.tensor_args, self.single = t.text, t.tensor_args, t.single
            self.fn = options.compiler(t.dynamic).compile(t.text)
        except kiln.KilnError as e:
            self._fall_back(e)
        KILN_SECONDS[0] += time.perf_counter() - start

    def _fall_back(self, e: Exception) -> None:
        log.warning("kiln: partition %s runs eagerly in PyTorch: %s", self.name, e)
        FALLBACK_OPS.update(_op_name(n) for n in self.eager.graph.nodes if n.op == "call_function")
        self.fn = None

    def forward(self, *args: Any) -> Any:
        if self.fn is None:
            return self.eager(*args)
        tensors = [args[i] for i in self.tensor_args]
        before = kiln.counters()
        if not self.ready:
            start = time.perf_counter()
            try:
                out = self.fn(*tensors)
            except (kiln.InputError, kiln.ShapeError):
                raise
            except kiln.KilnError as e:
                self._fall_back(e)
                return self.eager(*args)
            finally:
                took = time.perf_counter() - start
                KILN_SECONDS[0] += took
                # The call specialised the function first (a cache hit or a compile): that
                # part is kiln's preparation, the rest the run.
                report = self.fn.last_report() if self.fn is not None else None
                prepared = float((report or {}).get("compile_ms") or 0.0) / 1e3
                FIRST_RUN_SECONDS[0] += max(0.0, took - prepared)
            self.ready = True
        else:
            out = self.fn(*tensors)
        _mirror_counters(before)
        if self.single:
            return out
        return tuple(out) if isinstance(out, tuple) else (out,)


def _mirror_counters(before: dict) -> None:
    """Adds what one call did to ``torch._dynamo.utils.counters["kiln"]`` (so that
    ``counters.clear()`` starts a fresh count, as for Inductor's counters). As Inductor's
    ``fxgraph_cache_miss`` does, ``miss`` counts every compile, including kiln's guard misses
    (a key whose entries' guards all failed), which ``guard_miss`` also counts."""
    from torch._dynamo.utils import counters

    for k, v in kiln.counters().items():
        delta = v - before.get(k, 0)
        if delta:
            counters["kiln"][k] += delta
            if k == "guard_miss":
                counters["kiln"]["miss"] += delta


def compile_graph_module(gm: torch.fx.GraphModule, options: Any) -> Callable:
    """``gm`` with every kiln-compilable partition replaced by a :class:`KilnSubgraph`."""
    support = _Support()
    fallback = sorted(
        {_op_name(n) for n in gm.graph.nodes if n.op == "call_function" and not _aten.supported(n)}
    )
    FALLBACK_OPS.update(fallback)
    if fallback:
        log.info("kiln: %d op kinds run eagerly in PyTorch: %s", len(fallback), ", ".join(fallback))
    partitioner = CapabilityBasedPartitioner(gm, support, allows_single_node_partition=True)
    partitions = partitioner.propose_partitions()
    if not partitions:
        return gm
    fused = partitioner.fuse_partitions(partitions)
    for name, sub in list(fused.named_children()):
        if name.startswith("fused_") and isinstance(sub, torch.fx.GraphModule):
            setattr(fused, name, KilnSubgraph(name, sub, options))
    return fused
