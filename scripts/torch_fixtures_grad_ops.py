#!/usr/bin/env python3
"""Writes PyTorch's answers for the gradient family to tests/fixtures/torch/grad_ops.json.

`sum_to(x, like)` as `x.sum_to_size(*like.shape)`, `expand_as`, `reshape_as`,
`torch.slice_scatter` (steps, negative and clamped bounds, an empty slice, a src of another
dtype, which PyTorch casts) and `torch.select_scatter`, on f32/f64 (and f16/bf16 for the
copies, which are exact), plus cases where PyTorch raises (kiln must refuse them).
`tests/torch_fixtures.rs` (`gradient_family_matches_pytorch`) reads the file; no Python
needed there. Rerun after adding a case:

    python3 scripts/torch_fixtures_grad_ops.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_fixtures import ALL_POLICIES, OUT, Case, graph, randn  # noqa: E402

ISSUE = "17"
TORCH = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "f64": torch.float64}
# sum_to adds in another order than PyTorch (and the interpreter in f64): a few ulps of the
# result plus an absolute allowance for sums that cancel to near zero.
SUM_ATOL = {"f32": 1e-6, "f64": 1e-14}


class Tolerant(Case):
    """A case whose fixture also carries an absolute tolerance (`atol`)."""

    atol: float = 0.0

    def render(self) -> dict[str, object]:
        doc = super().render()
        doc["atol"] = self.atol
        return doc


def case(name, inputs, body, outputs, xs, fn, atol=None) -> Case:
    args = dict(name=name, issue=ISSUE, graph=graph(name, inputs, body, outputs), inputs=xs,
                fn=fn, policies=list(ALL_POLICIES))
    if atol is None:
        return Case(**args)
    c = Tolerant(**args, ulps=4.0)
    c.atol = atol
    return c


def sum_to_cases(dt: str) -> list[Case]:
    t = TORCH[dt]
    x, b = randn((5, 3), t, 1), randn((3,), t, 2)
    z, m = randn((2, 3, 4), t, 3), randn((3, 1), t, 4)
    tol = SUM_ATOL[dt]
    return [
        case(f"sum_to_lead_{dt}", f"x: {dt}[N, C]; b: {dt}[C]", "s = sum_to(x, b)", "s",
             [x, b], lambda x, b: x.sum_to_size(*b.shape), tol),
        case(f"sum_to_fused_{dt}", f"x: {dt}[N, C]; b: {dt}[C]",
             "y = add(x, b); e = exp(y); s = sum_to(e, b); t = mul(s, 0.5)", "t",
             [x, b], lambda x, b: (x + b).exp().sum_to_size(*b.shape) * 0.5, tol),
        case(f"sum_to_ones_{dt}", f"z: {dt}[N, C, H]; m: {dt}[C, 1]", "r = relu(z); s = sum_to(r, m)",
             "s", [z, m], lambda z, m: z.relu().sum_to_size(*m.shape), tol),
        case(f"sum_to_keep_one_{dt}", f"x: {dt}[N, C]; l: {dt}[1, C]", "s = sum_to(x, l)", "s",
             [x, randn((1, 3), t, 5)], lambda x, l: x.sum_to_size(*l.shape), tol),
        case(f"sum_to_all_{dt}", f"z: {dt}[N, C, H]; l: {dt}[1, 1]", "s = sum_to(z, l)", "s",
             [z, randn((1, 1), t, 6)], lambda z, l: z.sum_to_size(*l.shape), tol),
        case(f"sum_to_same_{dt}", f"x: {dt}[N, C]; l: {dt}[N, C]", "s = sum_to(x, l)", "s",
             [x, randn((5, 3), t, 7)], lambda x, l: x.sum_to_size(*l.shape)),
    ]


def copy_cases(dt: str) -> list[Case]:
    t = TORCH[dt]
    x, b, o = randn((4, 3), t, 1), randn((3,), t, 2), randn((3, 4), t, 3)
    w, s2 = randn((3, 6), t, 4), randn((3, 2), t, 5)
    y, r2 = randn((5, 4), t, 6), randn((2, 4), t, 7)
    v, col = randn((2, 3, 4), t, 8), randn((3, 4), t, 9)
    return [
        case(f"expand_as_{dt}", f"b: {dt}[C]; x: {dt}[N, C]", "e = expand_as(b, x)", "e",
             [b, x], lambda b, x: b.expand_as(x)),
        case(f"reshape_as_{dt}", f"x: {dt}[N, C]; o: {dt}[C, N]", "r = reshape_as(x, o)", "r",
             [x, o], lambda x, o: x.reshape_as(o)),
        case(f"slice_scatter_step_{dt}", f"w: {dt}[N, C]; s: {dt}[N, 2]",
             "y = slice_scatter(w, s, dim=1, start=1, end=5, step=2)", "y",
             [w, s2], lambda w, s: torch.slice_scatter(w, s, dim=1, start=1, end=5, step=2)),
        case(f"slice_scatter_negative_{dt}", f"y: {dt}[N, C]; r: {dt}[2, C]",
             "z = slice_scatter(y, r, start=-2)", "z",
             [y, r2], lambda y, r: torch.slice_scatter(y, r, start=-2)),
        case(f"slice_scatter_clamped_{dt}", f"y: {dt}[N, C]; r: {dt}[2, C]",
             "z = slice_scatter(y, r, start=3, end=99)", "z",
             [y, r2], lambda y, r: torch.slice_scatter(y, r, start=3, end=99)),
        case(f"select_scatter_{dt}", f"v: {dt}[A, B, C]; c: {dt}[B, C]",
             "z = select_scatter(v, c, 0, -1)", "z",
             [v, col], lambda v, c: torch.select_scatter(v, c, 0, -1)),
        case(f"select_scatter_inner_{dt}", f"v: {dt}[A, B, C]; c: {dt}[A, B]",
             "z = select_scatter(v, c, dim=2, index=1)", "z",
             [v, randn((2, 3), t, 10)], lambda v, c: torch.select_scatter(v, c, dim=2, index=1)),
    ]


def other_cases() -> list[Case]:
    x = randn((2, 4), torch.float32, 1)
    return [
        case("slice_scatter_whole", "x: f32[N, C]; s: f32[N, C]", "y = slice_scatter(x, s)", "y",
             [x, randn((2, 4), torch.float32, 2)], lambda x, s: torch.slice_scatter(x, s)),
        case("slice_scatter_empty", "x: f32[N, C]; s: f32[N, 0]",
             "y = slice_scatter(x, s, dim=1, start=5)", "y",
             [x, torch.zeros(2, 0)], lambda x, s: torch.slice_scatter(x, s, dim=1, start=5)),
        case("slice_scatter_casts_src", "x: f16[N, C]; s: f64[N, 2]",
             "y = slice_scatter(x, s, dim=1, end=2)", "y",
             [x.half(), randn((2, 2), torch.float64, 3)],
             lambda x, s: torch.slice_scatter(x, s, dim=1, end=2)),
        case("sum_to_scalar", "x: f32[N, C]; l: f32[]", "r = relu(x); s = sum_to(r, l)", "s",
             [x, torch.tensor(3.0)], lambda x, l: x.relu().sum_to_size(l.shape), 1e-6),
        case("sum_to_empty_dim", "x: f32[N, C]; l: f32[N, 1]", "s = sum_to(x, l)", "s",
             [torch.zeros(4, 0), torch.zeros(4, 1)], lambda x, l: x.sum_to_size(*l.shape)),
    ]


def error_cases() -> list[Case]:
    x = randn((4, 3), torch.float32, 1)
    return [
        case("sum_to_incompatible", "x: f32[N, C]; l: f32[N, D]", "s = sum_to(x, l)", "s",
             [x, randn((4, 2), torch.float32, 2)], lambda x, l: x.sum_to_size(*l.shape)),
        case("sum_to_more_dims", "x: f32[C]; l: f32[1, C]", "s = sum_to(x, l)", "s",
             [randn((3,), torch.float32, 3), randn((1, 3), torch.float32, 4)],
             lambda x, l: x.sum_to_size(*l.shape)),
        case("expand_as_incompatible", "b: f32[D]; x: f32[N, C]", "e = expand_as(b, x)", "e",
             [randn((2,), torch.float32, 5), x], lambda b, x: b.expand_as(x)),
        case("reshape_as_count", "x: f32[N, C]; o: f32[D]", "r = reshape_as(x, o)", "r",
             [x, randn((5,), torch.float32, 6)], lambda x, o: x.reshape_as(o)),
        case("slice_scatter_src_size", "x: f32[N, C]; s: f32[N, D]",
             "y = slice_scatter(x, s, dim=1, start=1)", "y",
             [x, randn((4, 1), torch.float32, 7)],
             lambda x, s: torch.slice_scatter(x, s, dim=1, start=1)),
        case("select_scatter_out_of_range", "x: f32[N, C]; s: f32[C]",
             "y = select_scatter(x, s, 0, 5)", "y",
             [x, randn((3,), torch.float32, 8)], lambda x, s: torch.select_scatter(x, s, 0, 5)),
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for dt in ["f32", "f64"]:
        cases += sum_to_cases(dt)
    for dt in ["f32", "f64", "f16", "bf16"]:
        cases += copy_cases(dt)
    cases += other_cases() + error_cases()
    doc = {
        "generator": "scripts/torch_fixtures_grad_ops.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = OUT / "grad_ops.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
