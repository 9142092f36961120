#!/usr/bin/env python3
"""Writes PyTorch's answers for kiln's index-family cases to tests/fixtures/torch/index.json.

int64 tensors (promotion, truncation, arithmetic), argmax/argmin, max/min with a dim. The
format and the reader are those of scripts/torch_fixtures.py (tests/torch_fixtures.rs reads
the file; no Python needed there). Rerun after adding a case:

    python3 scripts/torch_fixtures_index.py
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F

import torch_fixtures as tf
from torch_fixtures import Case, graph, randn

# i64 is the index family's dtype: register its kiln name with the shared encoder.
tf.DTYPES["i64"] = torch.int64
tf.NAMES[torch.int64] = "i64"

NAN = float("nan")
INF = float("inf")


def ints(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def int64_cases() -> list[Case]:
    x = ints([3, -7, 1 << 40, 0, 5, -1])
    y = ints([5, 2, 3, -9, 5, 4])
    f = randn((6,), torch.float32, 3)
    b = torch.tensor([True, False, True, True, False, False])
    return [
        Case(
            "i64_arithmetic_is_exact",
            "16.1",
            graph("a", "x: i64[N]; y: i64[N]",
                  "a = add(x, y); m = mul(x, y); s = sub(x, y); d = abs(s); n = neg(x); "
                  "mx = maximum(x, y); r = relu(s)", "a, m, s, d, n, mx, r"),
            [x, y],
            lambda x, y: (x + y, x * y, x - y, (x - y).abs(), -x, torch.maximum(x, y),
                          torch.relu(x - y)),
        ),
        Case(
            "i64_promotions",
            "16.1",
            graph("p", "x: i64[N]; y: i64[N]; f: f32[N]; b: bool[N]",
                  "d = div(x, y); e = add(x, f); s = add(x, 1.5); g = exp(y); "
                  "l = lt(x, y); r = sum(x); w = where(b, x, f); k = add(x, b)",
                  "d, e, s, g, l, r, w, k"),
            [x, y, f, b],
            lambda x, y, f, b: (x / y, x + f, x + 1.5, torch.exp(y), x < y, x.sum(),
                                torch.where(b, x, f), x + b),
            ulps=1.0,
        ),
        Case(
            "i64_true_divide_rounds_operands_to_f32_first",
            "16.1",
            graph("q", "x: i64[N]; y: i64[N]", "d = div(x, y)", "d"),
            [ints([16777217, 16777219, 100000007, -33554435]), ints([3, 7, 9, 3])],
            lambda x, y: x / y,
        ),
        Case(
            "to_i64_truncates_and_maps_nan_inf_overflow_to_min",
            "16.1",
            graph("t", "x: f32[N]; z: f64[N]", "a = to(x, i64); c = to(z, i64)", "a, c"),
            [torch.tensor([2.7, -2.7, 1e30, NAN, INF, -INF, -0.5, 3e9]),
             torch.tensor([2.7, -2.7, 1e300, NAN, INF, -INF, -0.5, 9.0e15],
                          dtype=torch.float64)],
            lambda x, z: (x.to(torch.int64), z.to(torch.int64)),
        ),
        Case(
            "i64_mean_is_refused",
            "16.1",
            graph("m", "x: i64[N]", "a = mean(x)", "a"),
            [x],
            lambda x: x.mean(),
        ),
        Case(
            "i64_silu_is_refused",
            "16.1",
            graph("m", "x: i64[N]", "a = silu(x)", "a"),
            [x],
            lambda x: F.silu(x),
        ),
    ]


def arg_cases() -> list[Case]:
    x = torch.tensor([[1.0, 3.0, 3.0], [NAN, 2.0, NAN], [-INF, -INF, -5.0]])
    r = randn((4, 5, 6), torch.float32, 11)
    r[1, 2, 3] = NAN
    r[0, 0, :] = 0.5  # ties along the last dim
    return [
        Case(
            "argmax_argmin_ties_and_nan",
            "16.2",
            graph("g", "x: f32[N, 3]",
                  "a = argmax(x); b = argmax(x, 1); c = argmin(x, 1); "
                  "d = argmax(x, 0, keepdim=true); e = argmin(x, keepdim=true)",
                  "a, b, c, d, e"),
            [x],
            lambda x: (x.argmax(), x.argmax(1), x.argmin(1), x.argmax(0, keepdim=True),
                       x.argmin(keepdim=True)),
        ),
        Case(
            "max_min_with_dim_values_and_indices",
            "16.2",
            graph("g", "x: f32[N, C, W]",
                  "v, i = max(x, 2); w, j = min(x, dim=1, keepdim=true); "
                  "m = max(x); n = min(x); a = argmax(x, -1)",
                  "v, i, w, j, m, n, a"),
            [r],
            lambda x: (*torch.max(x, 2), *torch.min(x, dim=1, keepdim=True), x.max(),
                       x.min(), x.argmax(-1)),
        ),
        Case(
            "argmax_of_i64",
            "16.2",
            graph("g", "x: i64[N, 4]", "a = argmax(x, 1); v, i = min(x, 0)", "a, v, i"),
            [ints([4, 9, 9, -1, 7, 7, 7, 7, -3, 2, -3, 2]).reshape(3, 4)],
            lambda x: (x.argmax(1), *torch.min(x, 0)),
        ),
        Case(
            "argmax_of_bool_is_refused",
            "16.2",
            graph("g", "x: bool[N]", "a = argmax(x)", "a"),
            [torch.tensor([True, False, True])],
            lambda x: x.argmax(),
        ),
        Case(
            "argmin_over_an_empty_dim_is_refused",
            "16.2",
            graph("g", "x: f32[0, 3]", "a = argmin(x, 0)", "a"),
            [torch.zeros(0, 3)],
            lambda x: x.argmin(0),
            policies=["static"],
        ),
    ]


def cumsum_cases() -> list[Case]:
    r = randn((3, 4, 7), torch.float32, 21)
    r[1, 1, 2] = NAN
    b = torch.tensor([[True, False, True, True], [False, False, True, False]])
    return [
        Case(
            "cumsum_along_dims_and_of_bool_and_i64",
            "16.4",
            graph("c", "x: f32[N, C, W]; b: bool[M, 4]; i: i64[M, 4]",
                  "a = cumsum(x, 2); c = cumsum(x, 0); d = cumsum(b, 1); e = cumsum(i, -1)",
                  "a, c, d, e"),
            [r, b, ints([5, -3, 1 << 40, 2, 0, 1, 1, -7]).reshape(2, 4)],
            lambda x, b, i: (x.cumsum(2), x.cumsum(0), b.cumsum(1), i.cumsum(-1)),
            # torch's CPU cumsum accumulates f32 in f32 (kiln in f64, rounding each output).
            ulps=4.0,
        ),
    ]


def main() -> None:
    cases = int64_cases() + arg_cases() + cumsum_cases()
    doc = {
        "generator": "scripts/torch_fixtures_index.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = tf.OUT / "index.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
