#!/usr/bin/env python3
"""Differential tester: random kiln graphs, run by the `kiln` CLI and by PyTorch eager.

Each case is a random graph (depth 1-10) over kiln's op table and dtypes, with symbolic input
dims; a shape sequence (size-1, empty and odd sizes) is run under one dynamic policy in one
cache directory, so later runs are cache hits or new entries, and every run's outputs must
match PyTorch (dtype, shape, values within dtype-aware tolerances; where PyTorch raises, kiln
must refuse too). A failing case is shrunk (outputs cut back to the first failing node, the
shape sequence to the failing run) and appended to the record file with its seed; rerun one
with `--seed SEED --cases 1`. See doc/DIFFTEST.md.

    python3 scripts/difftest.py --seconds 600
    python3 scripts/difftest.py --seed 1234 --cases 1 -v
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
    "f32": torch.float32,
    "f64": torch.float64,
}
NAMES = {v: k for k, v in DTYPES.items()}
FLOATS = ["f16", "bf16", "f32", "f64"]
POLICIES = ["static", "dynamic", "auto"]
SYMBOLS = ["A", "B", "C", "D"]
# Values a symbol takes across a shape sequence: size 1, empty and odd sizes included.
SIZES = [0, 1, 1, 2, 3, 4, 5, 7]
# |kiln - torch| <= atol + rtol*|torch|. kiln computes a fused chain in f32 and rounds once
# where PyTorch rounds every op to f16/bf16, so the 16-bit tolerances are loose.
TOLERANCE: dict[str, tuple[float, float]] = {
    "f16": (2e-2, 2e-2),
    "bf16": (1e-1, 1e-1),
    "f32": (1e-4, 1e-5),
    "f64": (1e-9, 1e-12),
}

UNARY = [
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh",
    "sigmoid", "relu", "silu", "gelu", "gelu_tanh", "floor", "ceil", "logical_not",
]  # fmt: skip
BINARY = [
    "add", "sub", "mul", "div", "maximum", "minimum", "pow", "eq", "ne", "lt", "le", "gt",
    "ge", "logical_and", "logical_or",
]  # fmt: skip
REDUCE = ["sum", "mean", "amax", "amin"]
# Ops whose result steps where an operand crosses a point (an integer, the other operand): a
# last-bit difference of the operand (kiln's transcendental functions and PyTorch's differ by
# an ulp) moves the result a whole step there. The graph is also evaluated with each one's
# first float operand nudged each way by a few ulps of its least precise float dtype, and with
# `eq`/`ne` taking operands that near as equal; an element matches when it matches any
# evaluation.
STEP_OPS = {"floor", "ceil", "eq", "ne", "lt", "le", "gt", "ge"}
NUDGE = {
    "f16": 4 * 2.0**-10,
    "bf16": 4 * 2.0**-7,
    "f32": 4 * 2.0**-23,
    "f64": 4 * 2.0**-52,
}

TorchFn = Callable[[list[torch.Tensor]], torch.Tensor]


def _unary_torch(op: str) -> Callable[[torch.Tensor], torch.Tensor]:
    table: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "relu": torch.relu,
        "silu": F.silu,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    }
    return table.get(op) or getattr(torch, op)


@dataclass
class Value:
    """A graph value: its name and a meta tensor with its dtype and first-run shape."""

    name: str
    meta: torch.Tensor

    @property
    def dtype(self) -> str:
        return NAMES[self.meta.dtype]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.meta.shape)


@dataclass
class Node:
    """One op: its kiln text, the values it reads, and PyTorch's meaning of it."""

    name: str
    text: str
    args: list[str]
    torch_fn: TorchFn


@dataclass
class Case:
    seed: int
    policy: str
    inputs: list[
        tuple[str, str, list[str]]
    ]  # name, dtype, dims (symbols or ints as text)
    nodes: list[Node]
    outputs: list[str]
    runs: list[dict[str, int]]  # symbol values per run

    def graph_text(self) -> str:
        lines = [f"graph diff{self.seed}"]
        lines += [f"input {n}: {dt}[{', '.join(d)}]" for n, dt, d in self.inputs]
        lines += [f"{n.name} = {n.text}" for n in self.nodes]
        lines.append(f"output {', '.join(self.outputs)}")
        return "\n".join(lines) + "\n"


def shape_of(dims: list[str], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(env[d] if d in env else int(d) for d in dims)


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def wrapped(s: float, like: torch.Tensor) -> torch.Tensor:
    """A Python scalar for the PyTorch ops that take none (maximum, minimum, logical_*): a
    0-d tensor of the other operand's dtype (f32 beside a bool), which is the result type
    the scalar gives."""
    dtype = torch.float32 if like.dtype == torch.bool else like.dtype
    return torch.tensor(s, dtype=dtype, device=like.device)


# Python's operators give PyTorch's scalar semantics in either operand order.
SCALAR_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def with_scalar(op: str, s: float, first: bool) -> TorchFn:
    """PyTorch's `op(t, s)` (or `op(s, t)` when `first`) for a Python scalar `s`."""
    py = SCALAR_OPS.get(op)
    if py is not None:
        return (lambda t: py(s, t[0])) if first else (lambda t: py(t[0], s))
    fn = getattr(torch, op)
    if first:
        return lambda t: fn(wrapped(s, t[0]), t[0])
    return lambda t: fn(t[0], wrapped(s, t[0]))


class Builder:
    """Grows a random graph; each new node's dtype and shape come from running it on meta
    tensors, and a node PyTorch refuses is usually dropped (sometimes kept, as the last one,
    to check that kiln refuses it too)."""

    def __init__(self, rng: random.Random, env: dict[str, int]) -> None:
        self.rng = rng
        self.env = env
        self.values: list[Value] = []
        self.nodes: list[Node] = []
        self.closed = False

    def add_input(self, name: str, dtype: str, dims: list[str]) -> None:
        meta = torch.empty(shape_of(dims, self.env), dtype=DTYPES[dtype], device="meta")
        self.values.append(Value(name, meta))

    def pick(self, pred: Callable[[Value], bool] = lambda v: True) -> Value | None:
        pool = [v for v in self.values if pred(v)]
        if not pool:
            return None
        # Prefer recent values, so graphs get deep.
        return pool[-1] if self.rng.random() < 0.5 else self.rng.choice(pool)

    def emit(self, text: str, args: list[Value], fn: TorchFn) -> None:
        name = f"v{len(self.nodes)}"
        try:
            meta = fn([a.meta for a in args])
        except Exception:  # noqa: BLE001 - any refusal by PyTorch
            if self.rng.random() < 0.9:
                return
            self.closed = True
            self.nodes.append(Node(name, text, [a.name for a in args], fn))
            return
        if meta.dtype not in NAMES:
            return  # an integer result (sum of bools): kiln has no integer dtypes
        self.nodes.append(Node(name, text, [a.name for a in args], fn))
        self.values.append(Value(name, meta))

    def scalar(self) -> float:
        return self.rng.choice([0.0, 1.0, -1.0, 0.5, 2.0, 0.1, -3.25, 1e-3, 7.0])

    def step(self) -> None:
        kind = self.rng.choice(
            ["unary"] * 4
            + ["binary"] * 5
            + ["where", "cast", "reduce", "softmax", "pool", "layout", "layout"]
        )
        getattr(self, f"op_{kind}")()

    def op_unary(self) -> None:
        x = self.pick()
        assert x is not None
        op = self.rng.choice(UNARY)
        text = (
            f'gelu({x.name}, approximate="tanh")'
            if op == "gelu_tanh"
            else f"{op}({x.name})"
        )
        fn = _unary_torch(op)
        self.emit(text, [x], lambda a: fn(a[0]))

    def op_binary(self) -> None:
        op = self.rng.choice(BINARY)
        a = self.pick()
        assert a is not None
        fn = getattr(torch, op)
        if self.rng.random() < 0.3:
            s = self.scalar()
            first = self.rng.random() < 0.5
            text = f"{op}({s!r}, {a.name})" if first else f"{op}({a.name}, {s!r})"
            self.emit(text, [a], with_scalar(op, s, first))
            return
        b = self.pick(lambda v: broadcast(v.shape, a.shape) is not None)
        assert b is not None
        self.emit(f"{op}({a.name}, {b.name})", [a, b], lambda t: fn(t[0], t[1]))

    def op_where(self) -> None:
        c = self.pick(lambda v: v.dtype == "bool")
        if c is None:
            return self.op_binary()
        a = self.pick(lambda v: broadcast(v.shape, c.shape) is not None)
        assert a is not None
        if self.rng.random() < 0.5:
            s = self.scalar()
            self.emit(
                f"where({c.name}, {a.name}, {s!r})",
                [c, a],
                lambda t: torch.where(t[0], t[1], s),
            )
        else:
            shape = broadcast(a.shape, c.shape) or c.shape
            b = self.pick(lambda v: broadcast(v.shape, shape) is not None)
            assert b is not None
            self.emit(
                f"where({c.name}, {a.name}, {b.name})",
                [c, a, b],
                lambda t: torch.where(t[0], t[1], t[2]),
            )
        return None

    def op_cast(self) -> None:
        x = self.pick()
        assert x is not None
        dt = self.rng.choice(list(DTYPES))
        self.emit(f"to({x.name}, {dt})", [x], lambda t: t[0].to(DTYPES[dt]))

    def op_reduce(self) -> None:
        x = self.pick(lambda v: len(v.shape) > 0)
        if x is None:
            return self.op_unary()
        op = self.rng.choice(REDUCE)
        rank = len(x.shape)
        dims = sorted(self.rng.sample(range(rank), self.rng.randint(1, rank)))
        dims = [d - rank if self.rng.random() < 0.3 else d for d in dims]
        keep = self.rng.random() < 0.4
        fn = getattr(torch, op)
        if self.rng.random() < 0.2:
            self.emit(f"{op}({x.name})", [x], lambda t: fn(t[0]))
            return None
        kd = "true" if keep else "false"
        self.emit(
            f"{op}({x.name}, {dims}, keepdim={kd})",
            [x],
            lambda t: fn(t[0], dim=dims, keepdim=keep),
        )
        return None

    def op_softmax(self) -> None:
        x = self.pick(lambda v: v.dtype != "bool")
        if x is None:
            return self.op_unary()
        rank = max(len(x.shape), 1)
        d = self.rng.randrange(-rank, rank)
        self.emit(f"softmax({x.name}, {d})", [x], lambda t: torch.softmax(t[0], d))
        return None

    def op_pool(self) -> None:
        x = self.pick(lambda v: len(v.shape) == 4 and v.dtype != "bool")
        if x is None:
            return self.op_layout()
        r = self.rng.random()
        if r < 0.3:
            o = (self.rng.randint(1, 3), self.rng.randint(1, 3))
            name = "adaptive_avg_pool2d" if r < 0.15 else "adaptive_max_pool2d"
            afn = F.adaptive_avg_pool2d if r < 0.15 else F.adaptive_max_pool2d
            self.emit(f"{name}({x.name}, {list(o)})", [x], lambda t: afn(t[0], o))
            return None
        k = self.rng.randint(1, 3)
        s = self.rng.randint(1, 3)
        p = self.rng.randint(0, k // 2)
        ceil = self.rng.random() < 0.3
        kw = f"kernel_size={k}, stride={s}, padding={p}, ceil_mode={'true' if ceil else 'false'}"
        if self.rng.random() < 0.5:
            d = self.rng.randint(1, 2)
            self.emit(
                f"max_pool2d({x.name}, {kw}, dilation={d})",
                [x],
                lambda t: F.max_pool2d(t[0], k, s, p, d, ceil_mode=ceil),
            )
        else:
            cip = self.rng.random() < 0.5
            div = self.rng.choice([None, None, 3, -2])
            extra = f", count_include_pad={'true' if cip else 'false'}"
            extra += f", divisor_override={div}" if div is not None else ""
            self.emit(
                f"avg_pool2d({x.name}, {kw}{extra})",
                [x],
                lambda t: F.avg_pool2d(t[0], k, s, p, ceil, cip, div),
            )
        return None

    def op_layout(self) -> None:
        x = self.pick()
        assert x is not None
        rank = len(x.shape)
        kind = self.rng.choice(
            ["reshape", "permute", "transpose", "unsqueeze", "squeeze", "expand"]
        )
        if kind == "reshape":
            self.emit(f"reshape({x.name}, [-1])", [x], lambda t: t[0].reshape(-1))
        elif kind == "permute":
            perm = list(range(rank))
            self.rng.shuffle(perm)
            self.emit(f"permute({x.name}, {perm})", [x], lambda t: t[0].permute(perm))
        elif kind == "transpose":
            r = max(rank, 1)
            d0, d1 = self.rng.randrange(-r, r), self.rng.randrange(-r, r)
            self.emit(
                f"transpose({x.name}, {d0}, {d1})",
                [x],
                lambda t: torch.transpose(t[0], d0, d1),
            )
        elif kind == "unsqueeze":
            d = self.rng.randrange(-rank - 1, rank + 1)
            self.emit(
                f"unsqueeze({x.name}, {d})", [x], lambda t: torch.unsqueeze(t[0], d)
            )
        elif kind == "squeeze":
            if rank and self.rng.random() < 0.5:
                dims = sorted(self.rng.sample(range(rank), self.rng.randint(1, rank)))
                self.emit(
                    f"squeeze({x.name}, {dims})",
                    [x],
                    lambda t: torch.squeeze(t[0], dims),
                )
            elif rank and self.rng.random() < 0.5:
                d = self.rng.randrange(-rank, rank)
                self.emit(
                    f"squeeze({x.name}, {d})", [x], lambda t: torch.squeeze(t[0], d)
                )
            else:
                self.emit(f"squeeze({x.name})", [x], lambda t: torch.squeeze(t[0]))
        else:
            lead = self.rng.randint(0, 1)
            target = [2] * lead + [
                (-1 if s != 1 or self.rng.random() < 0.5 else 3) for s in x.shape
            ]
            self.emit(f"expand({x.name}, {target})", [x], lambda t: t[0].expand(target))


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    policy = rng.choice(POLICIES)
    runs = []
    for _ in range(rng.randint(1, 3)):
        runs.append({s: rng.choice(SIZES) for s in SYMBOLS})
    if rng.random() < 0.5:
        runs.append(dict(runs[0]))  # the same shapes again: a hit must match too
    inputs: list[tuple[str, str, list[str]]] = []
    b = Builder(rng, runs[0])
    for i in range(rng.randint(1, 3)):
        rank = rng.choice([0, 1, 2, 2, 3, 4, 4])
        dims = [rng.choice([*SYMBOLS, "1", "2", "3"]) for _ in range(rank)]
        dtype = rng.choice(["bool", *FLOATS, "f32", "f32"])
        name = f"x{i}"
        inputs.append((name, dtype, dims))
        b.add_input(name, dtype, dims)
    for _ in range(rng.randint(1, 10)):
        if b.closed:
            break
        b.step()
    outs = [b.nodes[-1].name] if b.nodes else [inputs[0][0]]
    if len(b.nodes) > 2 and rng.random() < 0.3:
        outs.append(rng.choice(b.nodes[:-1]).name)
    return Case(seed, policy, inputs, b.nodes, outs, runs)


def random_input(
    rng: np.random.Generator, dtype: str, shape: tuple[int, ...]
) -> torch.Tensor:
    if dtype == "bool":
        return torch.from_numpy(np.asarray(rng.random(shape) < 0.5))
    v = rng.standard_normal(shape) * rng.choice([0.5, 2.0, 10.0])
    special = rng.random(shape)
    v = np.where(special < 0.03, 0.0, v)
    v = np.where(
        (special > 0.03) & (special < 0.04),
        rng.choice([np.inf, -np.inf, np.nan, 1e30]),
        v,
    )
    return torch.from_numpy(np.asarray(v, dtype=np.float64)).to(DTYPES[dtype])


def to_npy(t: torch.Tensor, path: Path) -> None:
    # bf16 has no NumPy dtype: kiln reads bf16 inputs from f32 files (exact here).
    arr = t.to(torch.float32).numpy() if t.dtype == torch.bfloat16 else t.numpy()
    np.save(path, arr)


def nudged(args: list[torch.Tensor], by: float) -> list[torch.Tensor]:
    """`args` with the first float operand moved by `by` of its magnitude plus `by` (so that
    values at 0 move too), in its own dtype."""
    for i, t in enumerate(args):
        if t.is_floating_point():
            wide = t.to(torch.float64)
            moved = (wide + by * (wide.abs() + 1)).to(t.dtype)
            return args[:i] + [moved] + args[i + 1 :]
    return args


def near(op: str, args: list[torch.Tensor], by: float) -> torch.Tensor:
    """`eq`/`ne` with operands within `by` (relative and absolute) counted as equal."""
    a, b = torch.broadcast_tensors(*(t.to(torch.float64) for t in args))
    close = torch.isclose(a, b, rtol=by, atol=by, equal_nan=False)
    return close if op == "eq" else ~close


def torch_eval(
    case: Case, inputs: dict[str, torch.Tensor], nudge: float = 0.0, mode: str = ""
) -> dict[str, torch.Tensor]:
    """PyTorch's outputs. With `mode` "down"/"up", every step op's first float operand is
    nudged by `nudge` that way; with "near", `eq`/`ne` count operands within `nudge` equal."""
    env: dict[str, torch.Tensor] = dict(inputs)
    for n in case.nodes:
        args = [env[a] for a in n.args]
        op = n.text.split("(")[0]
        if mode in ("down", "up") and op in STEP_OPS:
            args = nudged(args, -nudge if mode == "down" else nudge)
        if mode == "near" and op in ("eq", "ne") and len(args) == 2:
            env[n.name] = near(op, args, nudge)
            continue
        env[n.name] = n.torch_fn(args)
    return {o: env[o] for o in case.outputs}


def nudged_evals(
    case: Case, inputs: dict[str, torch.Tensor], dtype: str
) -> list[dict[str, torch.Tensor]]:
    """The graph evaluated with its step ops' operands nudged down, up and (`eq`/`ne`) taken
    as equal when near: none without step ops; one that raises is left out."""
    if not any(n.text.split("(")[0] in STEP_OPS for n in case.nodes):
        return []
    evals = []
    for mode in ("down", "up", "near"):
        try:
            evals.append(torch_eval(case, inputs, NUDGE[dtype], mode))
        except (RuntimeError, ValueError, IndexError, TypeError):
            pass
    return evals


@dataclass
class Outcome:
    """What one run gave: outputs, or an error (`panic` when kiln crashed)."""

    outputs: dict[str, np.ndarray] | None
    error: str | None = None
    panic: bool = False
    dtypes: dict[str, str] | None = None
    cache: str | None = None


def kiln_run(
    kiln: Path, graph: Path, files: dict[str, Path], policy: str, cache: Path, out: Path
) -> Outcome:
    if out.exists():
        shutil.rmtree(out)
    cmd = [
        str(kiln),
        "run",
        str(graph),
        "--dynamic",
        policy,
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
        "--json",
    ]
    for name, path in files.items():
        cmd += ["--input", f"{name}={path}"]
    for attempt in range(10):
        try:
            p = subprocess.run(
                cmd, check=False, capture_output=True, text=True, timeout=300
            )
            break
        except OSError:
            # The binary is being rebuilt (cargo replaces the file): wait for it.
            if attempt == 9:
                raise
            time.sleep(3)
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        return Outcome(None, msg, panic=p.returncode not in (1, 2))
    report = json.loads(p.stdout.strip().splitlines()[-1])
    dtypes = {k: v["dtype"] for k, v in report["outputs"].items()}
    outputs = {k: np.load(out / f"{k}.npy") for k in dtypes}
    return Outcome(outputs, dtypes=dtypes, cache=report.get("cache"))


def matches(got: np.ndarray, dtype: str, w: np.ndarray, loosest: str) -> np.ndarray:
    """Per element, whether kiln's value matches `w` at the tolerance of `loosest`."""
    if dtype == "bool":
        return got.astype(bool).ravel() == w.ravel()
    g = got.astype(np.float64).ravel()
    wf = w.ravel()
    rtol, atol = TOLERANCE[loosest]
    with np.errstate(invalid="ignore"):
        return np.isclose(g, wf, rtol=rtol, atol=atol, equal_nan=True) | (g == wf)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.to(torch.float64).numpy() if t.dtype != torch.bool else t.numpy()


def compare(
    name: str,
    got: np.ndarray,
    dtype: str,
    want: torch.Tensor,
    loosest: str,
    nudged_wants: list[torch.Tensor] = [],  # noqa: B006 (never mutated)
) -> str | None:
    """Why kiln's output differs from PyTorch's, or None. Values are compared at the
    tolerance of `loosest`, the least precise float dtype the graph computes in (an f64
    output of f32 math carries f32's error); an element may also match one of
    `nudged_wants` (the graph with its step ops' operands nudged: see `STEP_OPS`)."""
    want_dtype = NAMES.get(want.dtype, str(want.dtype))
    if dtype != want_dtype:
        return f"{name}: dtype {dtype}, PyTorch {want_dtype}"
    w = as_numpy(want)
    if tuple(got.shape) != tuple(w.shape):
        return f"{name}: shape {tuple(got.shape)}, PyTorch {tuple(w.shape)}"
    close = matches(got, dtype, w, loosest)
    for other in nudged_wants:
        o = as_numpy(other)
        if o.shape == w.shape:
            close |= matches(got, dtype, o, loosest)
    bad = np.flatnonzero(~close)
    if bad.size == 0:
        return None
    i = int(bad[0])
    return f"{name}: {bad.size} of {got.size} differ, first at {i}: kiln {got.ravel()[i]!r}, PyTorch {w.ravel()[i]!r}"


TORCH_LIMITS = ("not implemented for", "Could not run")
# PyTorch's CPU `gelu(x, approximate="none")` gives NaN at +inf (the function's limit is inf,
# which kiln, its interpreter and gelu(approximate="tanh") give): a PyTorch quirk, not copied.
KNOWN = [("gelu(", "kiln np.float32(inf), PyTorch np.float64(nan)")]


def loosest(case: Case, outputs: dict[str, torch.Tensor]) -> str:
    """The least precise float dtype among the graph's inputs and outputs and its casts."""
    names = [dt for _, dt, _ in case.inputs] + [
        NAMES[t.dtype] for t in outputs.values()
    ]
    names += [
        n.text.split(", ")[-1].rstrip(")")
        for n in case.nodes
        if n.text.startswith("to(")
    ]
    order = ["bf16", "f16", "f32", "f64"]
    present = [o for o in order if o in names]
    return present[0] if present else "f32"


def known(case: Case, failure: str) -> bool:
    text = case.graph_text()
    return any(op in text and sig in failure for op, sig in KNOWN)


def check_case(
    case: Case, kiln: Path, work: Path, only_runs: list[int] | None = None
) -> str | None:
    """The first disagreement with PyTorch over the case's runs, or None."""
    graph = work / "g.kiln"
    graph.write_text(case.graph_text())
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(mode=0o700)
    for r, env in enumerate(case.runs):
        if only_runs is not None and r not in only_runs:
            continue
        rng = np.random.default_rng(case.seed * 31 + r)
        tensors = {
            n: random_input(rng, dt, shape_of(d, env)) for n, dt, d in case.inputs
        }
        files = {}
        for n, t in tensors.items():
            files[n] = work / f"{n}.npy"
            to_npy(t, files[n])
        try:
            want: dict[str, torch.Tensor] | None = torch_eval(case, tensors)
            torch_err = None
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            want, torch_err = (
                None,
                str(e).splitlines()[0] if str(e) else type(e).__name__,
            )
        if torch_err and any(s in torch_err for s in TORCH_LIMITS):
            return (
                None  # PyTorch has no kernel for this dtype: nothing to compare against
            )
        got = kiln_run(kiln, graph, files, case.policy, cache, work / "out")
        where = f"run {r} {env}"
        repeated = env in case.runs[:r] and (only_runs is None)
        if (
            repeated
            and case.policy != "auto"
            and got.error is None
            and got.cache != "hit"
        ):
            # The same shapes again in the same cache dir must be served by the stored entry.
            return f"{where}: the same shapes again were a cache {got.cache}, not a hit"
        if got.panic:
            return f"{where}: kiln crashed: {got.error}"
        if want is None:
            if got.error is None:
                return f"{where}: kiln accepts; PyTorch raises: {torch_err}"
            continue
        if got.error is not None:
            return f"{where}: kiln refuses ({got.error}); PyTorch computes it"
        assert got.outputs is not None and got.dtypes is not None
        tol = loosest(case, want)
        evals = nudged_evals(case, tensors, tol)
        for o in case.outputs:
            others = [e[o] for e in evals]
            diff = compare(o, got.outputs[o], got.dtypes[o], want[o], tol, others)
            if diff:
                return f"{where}: {diff}"
    return None


def prune(case: Case, outputs: list[str]) -> Case:
    """The case with only the nodes `outputs` need."""
    need = set(outputs)
    for n in reversed(case.nodes):
        if n.name in need:
            need.update(n.args)
    nodes = [n for n in case.nodes if n.name in need]
    inputs = [i for i in case.inputs if i[0] in need] or case.inputs[:1]
    return Case(case.seed, case.policy, inputs, nodes, outputs, case.runs)


def shrink(case: Case, kiln: Path, work: Path, failure: str) -> tuple[Case, str]:
    """Cuts the graph back to the first node that fails alone, then drops runs."""
    kind = failure.split(": ", 2)[1].split(" ")[0] if ": " in failure else ""
    for n in case.nodes:
        small = prune(case, [n.name])
        msg = check_case(small, kiln, work)
        if msg and kind in msg:
            case, failure = small, msg
            break
    for r in range(len(case.runs)):
        single = Case(
            case.seed,
            case.policy,
            case.inputs,
            case.nodes,
            case.outputs,
            [case.runs[r]],
        )
        msg = check_case(single, kiln, work)
        if msg:
            return single, msg
    return case, failure


def find_kiln(explicit: str | None) -> Path:
    candidates: list[str | None] = [explicit, os.environ.get("KILN_BIN")]
    target = os.environ.get("CARGO_TARGET_DIR")
    for base in [target, str(ROOT / "target")]:
        if base:
            candidates += [f"{base}/release/kiln", f"{base}/debug/kiln"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    sys.exit(
        "difftest: no kiln binary; build it (cargo build -p kiln-cli) or pass --kiln"
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long")
    ap.add_argument(
        "--cases", type=int, default=None, help="stop after this many cases"
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the first case (case i uses seed + i)",
    )
    ap.add_argument(
        "--kiln",
        help="the kiln binary (default: $KILN_BIN, then target/{release,debug}/kiln)",
    )
    ap.add_argument(
        "--record",
        default="difftest-failures.jsonl",
        help="append shrunk failures here",
    )
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="print every case's graph"
    )
    args = ap.parse_args()
    if args.seconds is None and args.cases is None:
        args.cases = 50
    kiln = find_kiln(args.kiln)
    torch.set_num_threads(1)
    start, done, failed = time.monotonic(), 0, 0
    with tempfile.TemporaryDirectory(prefix="kiln-difftest-") as tmp:
        work = Path(tmp)
        while True:
            if args.cases is not None and done >= args.cases:
                break
            if args.seconds is not None and time.monotonic() - start >= args.seconds:
                break
            seed = args.seed + done
            case = make_case(seed)
            if args.verbose:
                print(
                    f"--- seed {seed} policy {case.policy} runs {case.runs}\n{case.graph_text()}"
                )
            failure = check_case(case, kiln, work)
            done += 1
            if failure is None or known(case, failure):
                continue
            failed += 1
            if not args.no_shrink:
                case, failure = shrink(case, kiln, work, failure)
            print(
                f"FAIL seed {seed} ({case.policy}): {failure}\n{case.graph_text()}",
                flush=True,
            )
            record = {
                "seed": seed,
                "policy": case.policy,
                "runs": case.runs,
                "graph": case.graph_text(),
                "failure": failure,
            }
            with open(args.record, "a") as f:
                f.write(json.dumps(record) + "\n")
    print(
        f"difftest: {done} cases, {failed} failing, {time.monotonic() - start:.0f} s (kiln: {kiln})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
