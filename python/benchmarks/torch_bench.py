"""``backend="kiln"`` beside ``backend="inductor"``: first calls (cold: empty caches; warm: a
fresh process with populated caches) and steady state, one JSON line per row.

    python python/benchmarks/torch_bench.py [--cases a,b] [--skip-inductor-cold]

Each first call runs in a fresh subprocess (``--child``), as a service restart would. kiln's
own share of a warm first call (``kiln_ms``: translating partitions, loading them from kiln's
cache, first runs) is reported apart from the whole call, the rest being Dynamo's and
AOTAutograd's tracing; ``kiln_first_runs_ms`` is the part of it spent in the partitions'
first runs (the model's compute) and ``kiln_prepare_ms`` the rest. Steady state times outputs allocated per call, as PyTorch returns them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def cases() -> dict:
    import torch
    from models import ResNet18, SmallCNN

    F = torch.nn.functional

    def fused(x: Any, y: Any, z: Any) -> Any:
        return torch.sigmoid(torch.relu(x * y + z)) * 2 - 1

    def train_step(model: Any, x: Any, y: Any) -> Any:
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    def resnet(batch: int) -> tuple:
        torch.manual_seed(0)
        return ResNet18().eval(), (torch.randn(batch, 3, 224, 224),)

    n = 1 << 24
    return {
        "seed_function": (lambda x, y: (x * 2, y @ y), lambda: (torch.rand(25), torch.rand(5, 5))),
        "seed_static_bounds": (
            lambda x: F.adaptive_avg_pool2d(x, [5, 7]),
            lambda: (torch.rand(1, 64, 8, 9),),
        ),
        "seed_int32": (lambda x, y: (x + x, y + y), lambda: (torch.rand(5, 6), torch.rand(7, 8))),
        "fused_chain_16M": (fused, lambda: (torch.randn(n), torch.randn(n), torch.randn(n))),
        "resnet18_b1": (lambda m, x: m(x), lambda: resnet(1)),
        "resnet18_b8": (lambda m, x: m(x), lambda: resnet(8)),
        "small_cnn_train_b32": (
            train_step,
            lambda: (SmallCNN(), torch.randn(32, 1, 8, 8), torch.randint(0, 2, (32,))),
        ),
    }


def unpack(args: Any) -> tuple:
    """Case inputs: `(model, (x,))` pairs become `(model, x)`."""
    if len(args) == 2 and isinstance(args[1], tuple):
        return (args[0], *args[1])
    return tuple(args)


def child(case: str, backend: str) -> None:
    """One first call in this fresh process; prints its timings."""
    import torch

    start = time.perf_counter()
    fn, make = cases()[case]
    args = unpack(make())
    if backend == "kiln":
        import kiln.torch

        be: Any = kiln.torch.backend()
    else:
        be = backend
    compiled = torch.compile(fn, backend=be)
    t0 = time.perf_counter()
    with torch.no_grad() if "train" not in case else torch.enable_grad():
        compiled(*args)
    first_ms = (time.perf_counter() - t0) * 1e3
    row = {"first_call_ms": first_ms, "process_ms": (time.perf_counter() - start) * 1e3}
    if backend == "kiln":
        import kiln.torch

        row["kiln_ms"] = kiln.torch.kiln_seconds() * 1e3
        row["kiln_first_runs_ms"] = kiln.torch.first_run_seconds() * 1e3
        row["kiln_prepare_ms"] = row["kiln_ms"] - row["kiln_first_runs_ms"]
    print(json.dumps(row))


def first_call(case: str, backend: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, backend],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def steady(fn: Callable, args: tuple, reps: int = 20) -> float:
    import torch

    with torch.no_grad():
        for _ in range(3):
            fn(*args)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(*args)
            best = min(best, time.perf_counter() - t0)
    return best * 1e3


def steady_rows(names: list) -> None:
    import torch

    import kiln.torch

    for case in names:
        if "train" in case or case.startswith("seed"):
            continue
        fn, make = cases()[case]
        args = unpack(make())
        row: dict = {"case": case, "kind": "steady_ms"}
        for name, be in (("eager", None), ("inductor", "inductor"), ("kiln", kiln.torch.backend())):
            torch._dynamo.reset()
            f = fn if be is None else torch.compile(fn, backend=be)
            row[name] = steady(f, args)
        row["kiln_vs_inductor"] = row["inductor"] / row["kiln"]
        print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", nargs=2)
    p.add_argument("--cases", default=None)
    p.add_argument("--skip-inductor-cold", action="store_true")
    a = p.parse_args()
    if a.child:
        child(*a.child)
        return
    names = a.cases.split(",") if a.cases else list(cases())
    for case in names:
        with tempfile.TemporaryDirectory() as kdir, tempfile.TemporaryDirectory() as idir:
            env = {"KILN_CACHE_DIR": kdir, "TORCHINDUCTOR_CACHE_DIR": idir}
            row: dict = {"case": case, "kind": "first_call"}
            row["kiln_cold"] = first_call(case, "kiln", env)
            row["kiln_warm"] = first_call(case, "kiln", env)
            if not a.skip_inductor_cold:
                row["inductor_cold"] = first_call(case, "inductor", env)
                row["inductor_warm"] = first_call(case, "inductor", env)
                row["warm_ratio"] = (
                    row["kiln_warm"]["first_call_ms"] / row["inductor_warm"]["first_call_ms"]
                )
            print(json.dumps(row), flush=True)
    steady_rows(names)


if __name__ == "__main__":
    main()
