#!/usr/bin/env python3
"""Writes PyTorch's answers for the matmul family to tests/fixtures/torch/linalg.json.

`matmul` (1-D, 2-D, batched with broadcasting, empty K), `mm`, `bmm`, `linear` (with and
without bias, 1-D weight, batched input) and `addmm` (beta, alpha, beta=0 with a NaN input)
in f32, f64, f16 and bf16, and the inputs PyTorch refuses. Same format and harness as
scripts/torch_fixtures.py (tests/torch_fixtures.rs reads the file; no Python needed there).
Inputs are positive (uniform in [0.5, 1.5)), so no sum cancels and the allowed error, in
units in the last place of each result, stays small: a K-term f32 sum is within ~K ulps of
the exact one, and f16/bf16 products (accumulated in f32 by PyTorch, in f64 by the
interpreter) round to within 1 ulp of each other. Rerun after adding a case:

    python3 scripts/torch_fixtures_linalg.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_fixtures import NAMES, OUT, Case, gen, graph  # noqa: E402

ISSUE = "16"


def pos(shape: Sequence[int], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Uniform in [0.5, 1.5), rounded to `dtype`."""
    u = torch.rand(tuple(shape), generator=gen(seed), dtype=torch.float64) + 0.5
    return u.to(dtype)


def decl(name: str, t: torch.Tensor) -> str:
    return f"{name}: {NAMES[t.dtype]}[{', '.join(str(d) for d in t.shape)}]"


def two(name: str, call: str, a: torch.Tensor, b: torch.Tensor, fn, ulps: float) -> Case:
    return Case(
        name,
        ISSUE,
        graph(name, f"{decl('a', a)}; {decl('b', b)}", f"y = {call}", "y"),
        [a, b],
        fn,
        ulps=ulps,
    )


def ulps_for(dtype: torch.dtype, k: int) -> float:
    return 1.0 if dtype in (torch.float16, torch.bfloat16) else float(max(2 * k, 2))


def matmul_cases() -> list[Case]:
    cases = []
    shapes = {
        "dot": ((5,), (5,)),
        "matrix_vector": ((3, 5), (5,)),
        "vector_matrix": ((5,), (5, 4)),
        "matrix_matrix": ((3, 5), (5, 4)),
        "batched": ((2, 3, 5), (2, 5, 4)),
        "broadcast_batch": ((2, 1, 3, 5), (3, 5, 2)),
        "vector_batched": ((5,), (2, 5, 3)),
        "batched_vector": ((2, 3, 5), (5,)),
        "empty_k": ((2, 0), (0, 3)),
        "empty_batch": ((0, 2, 3), (3, 4)),
    }
    for i, (what, (sa, sb)) in enumerate(shapes.items()):
        for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            a, b = pos(sa, dtype, 10 * i), pos(sb, dtype, 10 * i + 1)
            name = f"matmul_{what}_{NAMES[dtype]}"
            cases.append(two(name, "matmul(a, b)", a, b, torch.matmul, ulps_for(dtype, sa[-1])))
    return cases


def strict_cases() -> list[Case]:
    f32 = torch.float32
    return [
        two("mm_f32", "mm(a, b)", pos((4, 6), f32, 1), pos((6, 3), f32, 2), torch.mm, 12),
        two("mm_of_3d_refused", "mm(a, b)", pos((2, 4, 6), f32, 1), pos((6, 3), f32, 2), torch.mm, 0),
        two("bmm_f64", "bmm(a, b)", pos((3, 2, 4), torch.float64, 3),
            pos((3, 4, 5), torch.float64, 4), torch.bmm, 8),
        two("bmm_of_2d_refused", "bmm(a, b)", pos((2, 4), f32, 3), pos((3, 4, 5), f32, 4), torch.bmm, 0),
        two("matmul_k_mismatch_refused", "matmul(a, b)", pos((2, 3), f32, 5), pos((4, 5), f32, 6),
            torch.matmul, 0),
        two("matmul_mixed_dtypes_refused", "matmul(a, b)", pos((2, 3), torch.float64, 5),
            pos((3, 5), f32, 6), torch.matmul, 0),
        two("matmul_0d_refused", "matmul(a, b)", pos((), f32, 5), pos((3, 5), f32, 6), torch.matmul, 0),
        two("matmul_batch_mismatch_refused", "matmul(a, b)", pos((2, 3, 4), f32, 5),
            pos((3, 4, 5), f32, 6), torch.matmul, 0),
    ]


def linear_cases() -> list[Case]:
    cases = []
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        x, w, b = pos((2, 3, 6), dtype, 20), pos((4, 6), dtype, 21), pos((4,), dtype, 22)
        n = NAMES[dtype]
        inputs = f"{decl('x', x)}; {decl('w', w)}; {decl('b', b)}"
        # bias added after the product is rounded: two roundings where PyTorch may fuse one
        ulps = 2.0 if dtype in (torch.float16, torch.bfloat16) else 16.0
        cases.append(Case(f"linear_bias_{n}", ISSUE, graph("l", inputs, "y = linear(x, w, b)", "y"),
                          [x, w, b], F.linear, ulps=ulps))
    f32 = torch.float32
    x, w = pos((3, 6), f32, 23), pos((4, 6), f32, 24)
    inputs = f"{decl('x', x)}; {decl('w', w)}"
    cases.append(Case("linear_no_bias_f32", ISSUE, graph("l", inputs, "y = linear(x, w)", "y"),
                      [x, w], F.linear, ulps=12))
    w1 = pos((6,), f32, 25)
    inputs = f"{decl('x', x)}; {decl('w', w1)}"
    cases.append(Case("linear_1d_weight_f32", ISSUE, graph("l", inputs, "y = linear(x, w)", "y"),
                      [x, w1], F.linear, ulps=12))
    return cases


def addmm_cases() -> list[Case]:
    f32 = torch.float32
    c, a, b = pos((4,), f32, 30), pos((3, 5), f32, 31), pos((5, 4), f32, 32)
    inputs = f"{decl('c', c)}; {decl('a', a)}; {decl('b', b)}"
    nan = torch.full((3, 4), float("nan"))
    nan_inputs = f"{decl('c', nan)}; {decl('a', a)}; {decl('b', b)}"
    return [
        Case("addmm_defaults_f32", ISSUE, graph("am", inputs, "y = addmm(c, a, b)", "y"),
             [c, a, b], torch.addmm, ulps=12),
        Case("addmm_beta_alpha_f32", ISSUE,
             graph("am", inputs, "y = addmm(c, a, b, beta=0.5, alpha=-2)", "y"),
             [c, a, b], lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=-2), ulps=12),
        Case("addmm_beta_0_ignores_nan_input_f32", ISSUE,
             graph("am", nan_inputs, "y = addmm(c, a, b, beta=0, alpha=1.5)", "y"),
             [nan, a, b], lambda c, a, b: torch.addmm(c, a, b, beta=0, alpha=1.5), ulps=12),
    ]


def main() -> None:
    cases = matmul_cases() + strict_cases() + linear_cases() + addmm_cases()
    doc = {
        "generator": "scripts/torch_fixtures_linalg.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = OUT / "linalg.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
