#!/usr/bin/env python3
"""PyTorch's CPU conv2d on the shapes of examples/conv_bench.rs, one JSON line per case:
{"case": "conv2d_<name>_b<N>", "gflops": ...}. Best of several runs, fresh outputs each call
(as kiln's benchmark). Run it within minutes of `conv_bench --json --peers FILE`.

    python3 scripts/conv_peers.py > /tmp/conv_peers.jsonl
"""
import json
import time

import torch

SHAPES = [
    ("stem7x7s2", 3, 64, 7, 2, 3, 224, 1),
    ("3x3_56", 64, 64, 3, 1, 1, 56, 1),
    ("1x1_56_256to64", 256, 64, 1, 1, 0, 56, 1),
    ("1x1_56_64to256", 64, 256, 1, 1, 0, 56, 1),
    ("3x3s2_56", 128, 128, 3, 2, 1, 56, 1),
    ("3x3_14", 256, 256, 3, 1, 1, 14, 1),
    ("3x3_7", 512, 512, 3, 1, 1, 7, 1),
    ("dw3x3_56", 144, 144, 3, 1, 1, 56, 144),
    ("dw3x3s2_112", 96, 96, 3, 2, 1, 112, 96),
    ("dw3x3_7", 960, 960, 3, 1, 1, 7, 960),
]


def best_seconds(fn, budget=1.5, max_runs=50):
    fn()
    start, best = time.perf_counter(), float("inf")
    for _ in range(max_runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return best


def main():
    torch.manual_seed(0)
    for name, cin, cout, k, s, p, hw, g in SHAPES:
        for n in (1, 8):
            x = torch.randn(n, cin, hw, hw)
            w = torch.randn(cout, cin // g, k, k)
            out = (hw + 2 * p - k) // s + 1
            flops = 2 * n * cout * out * out * (cin // g) * k * k
            with torch.no_grad():
                t = best_seconds(lambda: torch.nn.functional.conv2d(x, w, None, s, p, 1, g))
            print(json.dumps({"case": f"conv2d_{name}_b{n}", "gflops": round(flops / t / 1e9, 1),
                              "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
