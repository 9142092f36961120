#!/usr/bin/env python3
"""Times kiln's peers on the cases of `examples/kernel_bench.rs`, the way users call them:
fresh outputs on every call (PyTorch eager, torch.compile with Inductor, jax.jit).

    python3 scripts/peers_bench.py [--json] [--reps N] [--only NAME]

Each row counts bytes read plus bytes written, like kernel_bench, and carries the ratio to a
STREAM-like triad (`a = b + 1.5*c` over 16M f32, written into a preallocated tensor with the
same thread count) timed in alternation with the case in this process: the shared host's
memory bandwidth drifts by up to 2x within minutes, so figures from two processes are compared
through these ratios. Run it in the same hour as kernel_bench. JAX rows are skipped with one
line when JAX is not installed.
"""
import argparse
import json
import os
import statistics
import sys
import time

N = 1 << 24
SIDE = 1 << 12
POOL_SHAPE = (32, 64, 112, 112)


def fused(x, y, z):
    import torch

    return torch.sigmoid(torch.relu(x * y + z)) * 2.0 - 1.0


def add(x, y):
    return x + y


def max_pool(x):
    import torch.nn.functional as F

    return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


def adaptive_avg(x):
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(x, (7, 7))


def cases():
    """(name, torch function, input shapes, jax function or None)."""
    def jax_fused(x, y, z):
        import jax

        return jax.nn.sigmoid(jax.nn.relu(x * y + z)) * 2.0 - 1.0

    return [
        ("fused_sigmoid_relu", fused, [(SIDE, SIDE), (SIDE, SIDE), (1, SIDE)], jax_fused),
        ("add", add, [(N,), (N,)], lambda x, y: x + y),
        ("max_pool2d_k3s2p1", max_pool, [POOL_SHAPE], None),
        ("adaptive_avg_pool2d_7x7", adaptive_avg, [POOL_SHAPE], None),
    ]


def alternating_medians(reps, reference, kernel):
    """Medians (seconds) of `reps` alternating calls, after two warm-ups of each."""
    for _ in range(2):
        reference()
        kernel()
    r, k = [], []
    for _ in range(reps):
        t = time.perf_counter()
        reference()
        r.append(time.perf_counter() - t)
        t = time.perf_counter()
        kernel()
        k.append(time.perf_counter() - t)
    return statistics.median(r), statistics.median(k)


class Triad:
    def __init__(self):
        import torch

        self.b = torch.ones(N)
        self.c = torch.full((N,), 2.0)
        self.a = torch.empty(N)

    def __call__(self):
        import torch

        torch.add(self.b, self.c, alpha=1.5, out=self.a)

    def gbps(self, secs):
        return 3 * 4 * N / secs / 1e9


def emit(args, row):
    if args.json:
        print(json.dumps(row), flush=True)
    elif "skipped" in row:
        print(f"{row['system']:<10}{row['case']:<26} skipped: {row['skipped']}", flush=True)
    else:
        print(
            f"{row['system']:<10}{row['case']:<26}{row['gbps']:7.2f} GB/s"
            f"  {row['ratio_to_triad']:.2f}x triad ({row['reference_gbps']:.1f} GB/s)"
            f"  first call {row['first_call_ms']:.0f} ms",
            flush=True,
        )


def nbytes(t):
    """Bytes of a torch tensor or a JAX array."""
    return t.nbytes if hasattr(t, "block_until_ready") else t.numel() * t.element_size()


def time_case(args, system, name, fn, inputs, triad):
    t = time.perf_counter()
    out = fn(*inputs)
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    first_ms = (time.perf_counter() - t) * 1e3
    in_bytes, out_bytes = sum(nbytes(i) for i in inputs), nbytes(out)
    del out

    def call():
        o = fn(*inputs)
        if hasattr(o, "block_until_ready"):
            o.block_until_ready()
        del o  # a fresh output every call, freed before the next, as kernel_bench does

    ref_secs, secs = alternating_medians(args.reps, triad, call)
    gbps = (in_bytes + out_bytes) / secs / 1e9
    reference = triad.gbps(ref_secs)
    emit(args, {
        "system": system, "case": name, "gbps": gbps, "ratio_to_triad": gbps / reference,
        "reference_gbps": reference, "first_call_ms": first_ms, "threads": args.threads,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--only", default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--systems", default="eager,inductor,jax")
    args = parser.parse_args()
    systems = args.systems.split(",")

    import torch

    torch.set_num_threads(args.threads)
    triad = Triad()
    gen = torch.Generator().manual_seed(1)
    for name, fn, shapes, jax_fn in cases():
        if args.only and args.only not in name:
            continue
        inputs = [torch.rand(s, generator=gen) * 2 - 1 for s in shapes]
        if "eager" in systems:
            time_case(args, "eager", name, fn, inputs, triad)
        if "inductor" in systems:
            torch._dynamo.reset()
            time_case(args, "inductor", name, torch.compile(fn), inputs, triad)
        if "jax" in systems:
            if jax_fn is None:
                continue
            try:
                import jax
                import jax.numpy as jnp
            except ImportError:
                emit(args, {"system": "jax", "case": name, "skipped": "JAX is not installed"})
                continue
            jinputs = [jnp.asarray(i.numpy()) for i in inputs]
            time_case(args, "jax", name, jax.jit(jax_fn), jinputs, triad)


if __name__ == "__main__":
    sys.exit(main())
