#!/usr/bin/env python3
"""Times kiln's linear-algebra peers on exactly the shapes of examples/linalg_bench.rs.

One JSON line per case, with the `case` names the bench uses, so that

    python3 scripts/linalg_peers.py > /tmp/peers.jsonl
    cargo run --release --example linalg_bench -- --json --peers /tmp/peers.jsonl

computes every row's ratio against the peer measured minutes before:
- `sgemm_*`: numpy's matmul (OpenBLAS sgemm) on f32 matrices, M x K @ K x N;
- `linear_bias_gelu_1024x768x3072`: torch `gelu(linear(x, w, b))`;
- `conv2d_<name>_b<N>`: torch `conv2d` (no bias) on ResNet-50 / MobileNetV2 layer shapes.
Each figure is 2 * multiply-adds per second (GFLOP/s), best of the timed runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

BUDGET_S = 0.7
MIN_RUNS = 3

SGEMMS = {
    "sgemm_256": (256, 256, 256),
    "sgemm_1024": (1024, 1024, 1024),
    "sgemm_2048": (2048, 2048, 2048),
    "sgemm_resnet50_fc_8x2048x1000": (8, 2048, 1000),
    "sgemm_bert_qkv_1024x768x2304": (1024, 768, 2304),
    "sgemm_bert_out_1024x768x768": (1024, 768, 768),
    "sgemm_bert_ffn1_1024x768x3072": (1024, 768, 3072),
    "sgemm_bert_ffn2_1024x3072x768": (1024, 3072, 768),
}
LINEARS = [
    ("linear_bias_gelu_1024x768x3072", 1024, 768, 3072),
    ("linear_bias_gelu_128x768x3072", 128, 768, 3072),
]

# name: (c_in, c_out, kernel, stride, padding, H(=W), groups)
CONVS = {
    "stem7x7s2": (3, 64, 7, 2, 3, 224, 1),
    "3x3_56": (64, 64, 3, 1, 1, 56, 1),
    "1x1_56_256to64": (256, 64, 1, 1, 0, 56, 1),
    "1x1_56_64to256": (64, 256, 1, 1, 0, 56, 1),
    "3x3s2_56": (128, 128, 3, 2, 1, 56, 1),
    "3x3_14": (256, 256, 3, 1, 1, 14, 1),
    "3x3_7": (512, 512, 3, 1, 1, 7, 1),
    "dw3x3_56": (144, 144, 3, 1, 1, 56, 144),
}


def best(f: Callable[[], object]) -> float:
    """The best wall time of `f` over the budget, after one warm-up call."""
    f()
    start = time.perf_counter()
    runs, best_s = 0, float("inf")
    while runs < MIN_RUNS or time.perf_counter() - start < BUDGET_S:
        t = time.perf_counter()
        f()
        best_s = min(best_s, time.perf_counter() - t)
        runs += 1
    return best_s


def emit(case: str, system: str, flops: float, secs: float) -> None:
    row = {"case": case, "system": system, "gflops": round(flops / secs / 1e9, 1)}
    print(json.dumps(row), flush=True)


def sgemm_rows() -> None:
    rng = np.random.default_rng(0)
    for case, (m, k, n) in SGEMMS.items():
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        secs = best(lambda: np.matmul(a, b, out=out))
        emit(case, f"numpy {np.__version__} matmul (OpenBLAS sgemm)", 2.0 * m * k * n, secs)


def linear_rows() -> None:
    for case, m, k, n in LINEARS:
        x, w, bias = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
        with torch.inference_mode():
            secs = best(lambda: F.gelu(F.linear(x, w, bias)))
        emit(case, f"torch {torch.__version__} gelu(linear(x, w, b))", 2.0 * m * k * n, secs)


def conv_rows() -> None:
    for name, (c_in, c_out, k, s, p, hw, groups) in CONVS.items():
        for batch in (1, 8):
            x = torch.randn(batch, c_in, hw, hw)
            w = torch.randn(c_out, c_in // groups, k, k)
            with torch.inference_mode():
                out_hw = F.conv2d(x, w, stride=s, padding=p, groups=groups).shape[-1]
                secs = best(lambda: F.conv2d(x, w, stride=s, padding=p, groups=groups))
            macs = batch * c_out * out_hw * out_hw * (c_in // groups) * k * k
            emit(f"conv2d_{name}_b{batch}", f"torch {torch.__version__} conv2d", 2.0 * macs, secs)


def main() -> None:
    sgemm_rows()
    linear_rows()
    conv_rows()


if __name__ == "__main__":
    main()
