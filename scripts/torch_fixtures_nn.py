#!/usr/bin/env python3
"""Writes PyTorch's answers for the nn family (activations, normalisation, flatten) to
tests/fixtures/torch/nn.json, read by `tests/torch_fixtures.rs` (no Python needed there).

Each case is a kiln graph, its inputs and what PyTorch eager computes (or the error it
raises); the format and helpers are `scripts/torch_fixtures.py`'s. A case allows
`ulps` units in the last place plus an absolute `atol`: kiln has no expm1/log1p, so elu,
softplus and mish near 0 differ from PyTorch by less than `atol`, and kiln rounds an f16/bf16
composite after every op where PyTorch's fused kernel rounds once. Rerun after a change:

    python3 scripts/torch_fixtures_nn.py
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from torch_fixtures import DTYPES, OUT, Case, graph, randn

POLICIES = ["static", "dynamic"]
# (ulps, atol) per dtype for composites of several rounded ops.
TOL = {"f32": (8.0, 2e-6), "f64": (8.0, 1e-14), "f16": (8.0, 8e-3), "bf16": (8.0, 6e-2)}
EDGES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-8, -1e-8, 0.5, -0.5, 3.0, -3.0, 6.0,
         -6.0, 20.0, 20.5, -20.0, 100.0, -100.0]


@dataclass
class NnCase(Case):
    atol: float = 0.0
    signed_zero: bool = True

    def render(self) -> dict[str, object]:
        doc = super().render()
        doc["atol"] = self.atol
        doc["signed_zero"] = self.signed_zero
        return doc


# (kiln statement on x, PyTorch's meaning).
ACTIVATIONS = [
    ("clamp(x, min=-0.5, max=0.5)", lambda x: torch.clamp(x, min=-0.5, max=0.5)),
    ("clamp(x, min=0.0)", lambda x: torch.clamp(x, min=0.0)),
    ("clamp(x, max=-0.1)", lambda x: torch.clamp(x, max=-0.1)),
    ("clamp(x, 0.5, -0.5)", lambda x: torch.clamp(x, 0.5, -0.5)),
    ("clamp(x, min=nan)", lambda x: torch.clamp(x, min=math.nan)),
    ("hardtanh(x)", F.hardtanh),
    ("hardtanh(x, min_val=-0.3, max_val=0.7)", lambda x: F.hardtanh(x, -0.3, 0.7)),
    ("relu6(x)", F.relu6),
    ("leaky_relu(x)", F.leaky_relu),
    ("leaky_relu(x, negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2)),
    ("elu(x)", F.elu),
    ("elu(x, alpha=0.5)", lambda x: F.elu(x, 0.5)),
    ("selu(x)", F.selu),
    ("hardswish(x)", F.hardswish),
    ("hardsigmoid(x)", F.hardsigmoid),
    ("mish(x)", F.mish),
    ("softplus(x)", F.softplus),
    ("softplus(x, beta=2.0, threshold=1.0)", lambda x: F.softplus(x, 2.0, 1.0)),
    ("log_softmax(x, dim=-1)", lambda x: F.log_softmax(x, dim=-1)),
    ("dropout(x, p=0.3)", lambda x: F.dropout(x, p=0.3, training=False)),
]


def op_name(stmt: str) -> str:
    return stmt.split("(")[0]


def activation_cases() -> list[NnCase]:
    cases: list[NnCase] = []
    for i, (stmt, fn) in enumerate(ACTIVATIONS):
        for dt in ["f32", "f64"]:
            ulps, atol = TOL[dt]
            x = torch.tensor(EDGES, dtype=DTYPES[dt])
            cases.append(NnCase(
                f"{op_name(stmt)}_{i}_edges_{dt}", "16",
                graph("act", f"x: {dt}[N]", f"y = {stmt}", "y"),
                [x], fn, policies=["static"], ulps=ulps, atol=atol))
        for dt in ["f32", "f64", "f16", "bf16"]:
            ulps, atol = TOL[dt]
            x = (randn((2, 3, 7), torch.float64, 100 + i) * 6).to(DTYPES[dt])
            cases.append(NnCase(
                f"{op_name(stmt)}_{i}_random_{dt}", "16",
                graph("act", f"x: {dt}[N, C, L]", f"y = {stmt}", "y"),
                [x], fn, policies=POLICIES, ulps=ulps, atol=atol))
    return cases


def norm_cases() -> list[NnCase]:
    cases: list[NnCase] = []
    for dt in ["f32", "f64", "f16", "bf16"]:
        t = DTYPES[dt]
        ulps, atol = TOL[dt]
        x = (randn((2, 4, 3, 5), torch.float64, 1) * 3 + 1).to(t)
        c, w5 = randn((4,), t, 2), randn((5,), t, 3)
        b4, b5 = randn((4,), t, 4), randn((5,), t, 5)
        rm, rv = randn((4,), t, 6), (randn((4,), torch.float64, 7).abs() + 0.5).to(t)
        nchw = f"x: {dt}[N, C, H, W]"
        vec = lambda n, s: f"{n}: {dt}[{s}]"  # noqa: E731
        kw = dict(policies=POLICIES, ulps=ulps, atol=atol)
        cases += [
            NnCase(f"layer_norm_last_{dt}", "16",
                   graph("ln", f"{nchw}; {vec('w', 'W')}; {vec('b', 'W')}",
                         "y = layer_norm(x, [W], w, b)", "y"),
                   [x, w5, b5], lambda x, w, b: F.layer_norm(x, [5], w, b), **kw),
            NnCase(f"layer_norm_two_dims_{dt}", "16",
                   graph("ln2", nchw, "y = layer_norm(x, [3, 5], eps=0.001)", "y"),
                   [x], lambda x: F.layer_norm(x, [3, 5], eps=0.001), **kw),
            NnCase(f"group_norm_{dt}", "16",
                   graph("gn", f"{nchw}; {vec('w', 'C')}; {vec('b', 'C')}",
                         "y = group_norm(x, 2, w, b)", "y"),
                   [x, c, b4], lambda x, w, b: F.group_norm(x, 2, w, b), **kw),
            NnCase(f"batch_norm_eval_{dt}", "16",
                   graph("bn", f"{nchw}; {vec('rm', 'C')}; {vec('rv', 'C')}; "
                         f"{vec('w', 'C')}; {vec('b', 'C')}",
                         "y = batch_norm(x, rm, rv, w, b)", "y"),
                   [x, rm, rv, c, b4],
                   lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b), **kw),
            NnCase(f"batch_norm_train_{dt}", "16",
                   graph("bnt", f"{nchw}; {vec('w', 'C')}; {vec('b', 'C')}",
                         "y, m, v = batch_norm(x, None, None, w, b, training=true)",
                         "y, m, v"),
                   [x, c, b4], batch_norm_train, **kw),
        ]
    return cases


def batch_norm_train(x, w, b):
    dims = [0] + list(range(2, x.dim()))
    y = F.batch_norm(x, None, None, w, b, training=True)
    return y, x.mean(dims), x.var(dims, unbiased=False)


def layout_cases() -> list[NnCase]:
    x = randn((2, 6, 3, 4), torch.float32, 9)
    nchw = "x: f32[N, C, H, W]"
    return [
        NnCase("flatten_from_1", "16", graph("f", nchw, "y = flatten(x, start_dim=1)", "y"),
               [x], lambda x: torch.flatten(x, 1), policies=POLICIES),
        NnCase("flatten_middle", "16", graph("f", nchw, "y = flatten(x, 1, -2)", "y"),
               [x], lambda x: torch.flatten(x, 1, -2), policies=POLICIES),
        NnCase("unflatten_channels", "16",
               graph("u", nchw, "y = unflatten(x, 1, [3, -1])", "y"),
               [x], lambda x: torch.unflatten(x, 1, (3, -1)), policies=POLICIES),
        NnCase("flatten_start_after_end", "16", graph("f", nchw, "y = flatten(x, 2, 1)", "y"),
               [x], lambda x: torch.flatten(x, 2, 1), policies=POLICIES),
        NnCase("unflatten_wrong_product", "16",
               graph("u", nchw, "y = unflatten(x, 1, [4, 2])", "y"),
               [x], lambda x: torch.unflatten(x, 1, (4, 2)), policies=POLICIES),
    ]


def error_cases() -> list[NnCase]:
    x = randn((2, 6, 5), torch.float32, 11)
    ncl = "x: f32[N, C, L]"
    return [
        NnCase("layer_norm_wrong_trailing_size", "16",
               graph("e", ncl, "y = layer_norm(x, [4])", "y"),
               [x], lambda x: F.layer_norm(x, [4]), policies=POLICIES),
        NnCase("group_norm_indivisible_channels", "16",
               graph("e", ncl, "y = group_norm(x, 4)", "y"),
               [x], lambda x: F.group_norm(x, 4), policies=POLICIES),
        NnCase("batch_norm_running_stats_wrong_size", "16",
               graph("e", f"{ncl}; rm: f32[K]; rv: f32[K]", "y = batch_norm(x, rm, rv)", "y"),
               [x, torch.zeros(4), torch.ones(4)], lambda x, rm, rv: F.batch_norm(x, rm, rv),
               policies=POLICIES),
        NnCase("hardtanh_min_above_max", "16", graph("e", ncl, "y = hardtanh(x, 1.0, 0.0)", "y"),
               [x], lambda x: F.hardtanh(x, 1.0, 0.0), policies=["static"]),
        NnCase("dropout_p_out_of_range", "16", graph("e", ncl, "y = dropout(x, p=1.5)", "y"),
               [x], lambda x: F.dropout(x, 1.5, training=False), policies=["static"]),
        NnCase("clamp_without_bounds", "16", graph("e", ncl, "y = clamp(x)", "y"),
               [x], lambda x: torch.clamp(x), policies=["static"]),
    ]


def main() -> None:
    cases = activation_cases() + norm_cases() + layout_cases() + error_cases()
    doc = {
        "generator": "scripts/torch_fixtures_nn.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = OUT / "nn.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
