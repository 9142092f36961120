#!/usr/bin/env python3
"""PyTorch's CPU `aten.convolution_backward` on examples/conv_grad_bench.rs's cases: the best
wall time of repeated runs in ms, per case and gradient (input alone, weight alone), as JSON
lines. Run in the same hour as `cargo run --release --example conv_grad_bench`."""

from __future__ import annotations

import json
import time

import torch

CASES = [
    ("3x3_56", 64, 64, 3, 1, 1, 56, 1, 1),
    ("3x3s2_56", 128, 128, 3, 2, 1, 56, 1, 1),
    ("3x3_14_b8", 256, 256, 3, 1, 1, 14, 1, 8),
    ("1x1_56_64to256", 64, 256, 1, 1, 0, 56, 1, 1),
    ("stem7x7s2", 3, 64, 7, 2, 3, 224, 1, 1),
    ("dw3x3_56", 144, 144, 3, 1, 1, 56, 144, 1),
]


def best_ms(fn, budget=1.5, max_runs=30):
    fn()
    start, best, runs = time.perf_counter(), float("inf"), 0
    while runs < max_runs and (runs < 3 or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) * 1e3)
        runs += 1
    return best


def main() -> None:
    for name, c_in, c_out, k, s, p, hw, groups, n in CASES:
        out = (hw + 2 * p - k) // s + 1
        x = torch.randn(n, c_in, hw, hw)
        w = torch.randn(c_out, c_in // groups, k, k)
        gy = torch.randn(n, c_out, out, out)
        for what, mask in (("input", [True, False, False]), ("weight", [False, True, False])):
            def fn(mask=mask):
                torch.ops.aten.convolution_backward(
                    gy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], groups, mask)
            print(json.dumps({"case": name, "grad": what, "ms": round(best_ms(fn), 3),
                              "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
