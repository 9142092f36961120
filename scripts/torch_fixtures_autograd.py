#!/usr/bin/env python3
"""Writes PyTorch autograd's gradients for kiln's differentiable ops to
tests/fixtures/torch/autograd.json, read by `crates/kiln-grad/tests/torch_autograd.rs` (no
Python needed there).

Each case is a small f64 kiln graph with one output `y`, its inputs, the inputs to
differentiate (`wrt`) and the gradients PyTorch computes for `y.sum().backward()`. Besides
random inputs (away from kinks) the edge cases pin PyTorch's conventions: relu and abs at 0,
maximum/minimum ties (split evenly), amax/amin ties (split evenly), max(dim) ties (all to the
index returned), sqrt at 0 (inf), clamp and hardtanh at their bounds (the bound passes the
gradient). Tensors are stored as the little-endian f64 bytes in hex, so no value is rounded.

It also writes tests/fixtures/torch/conv_model_grad.json: the gradients of
`sum(conv2(conv1(x)))` for the seed's two convolutions (`tests/conv_model_grad.rs`). Rerun
after adding a case:

    python3 scripts/torch_fixtures_autograd.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch"
F64 = torch.float64


def encode(t: torch.Tensor) -> dict[str, object]:
    t = t.detach().contiguous().cpu()
    return {
        "dtype": {torch.float64: "f64", torch.float32: "f32"}[t.dtype],
        "shape": list(t.shape),
        "hex": bytes(t.reshape(-1).view(torch.uint8).tolist()).hex(),
    }


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def away(*shape: int, seed: int) -> torch.Tensor:
    """Random values with |x| in [0.2, 2): away from the kinks at 0."""
    g = torch.Generator().manual_seed(seed)
    m = 0.2 + 1.8 * torch.rand(*shape, generator=g, dtype=F64)
    sign = torch.where(torch.rand(*shape, generator=g, dtype=F64) < 0.5, -1.0, 1.0)
    return m * sign


def positive(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 + 1.7 * torch.rand(*shape, generator=g, dtype=F64)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


@dataclass
class Case:
    name: str
    # `name: shape` per input (f64), `;`-separated; the body's statements, `;`-separated.
    inputs: str
    body: str
    values: list[torch.Tensor]
    fn: Callable[..., torch.Tensor]
    wrt: list[str]
    # Relative tolerance: composites associate differently from PyTorch's fused kernels.
    rtol: float = 1e-12

    def render(self) -> dict[str, object]:
        decls = [d.strip() for d in self.inputs.split(";") if d.strip()]
        names = [d.split(":")[0].strip() for d in decls]
        lines = ["graph g"] + [f"input {d.replace(':', ': f64', 1)}" for d in decls]
        lines += [s.strip() for s in self.body.split(";") if s.strip()]
        lines.append("output y")
        xs = [v.clone().requires_grad_(n in self.wrt) for n, v in zip(names, self.values)]
        y = self.fn(*xs)
        y.sum().backward()
        grads = [xs[names.index(w)].grad for w in self.wrt]
        return {
            "name": self.name,
            "graph": "\n".join(lines) + "\n",
            "rtol": self.rtol,
            "inputs": [encode(v) for v in self.values],
            "output": encode(y),
            "wrt": self.wrt,
            "grads": [encode(g) for g in grads],
        }


def unary_cases() -> list[Case]:
    cases = []
    for op in ["neg", "abs", "exp", "sin", "cos", "tanh", "sigmoid", "relu", "silu", "gelu",
               "reciprocal", "floor", "ceil"]:
        fn = getattr(torch, op, None) or getattr(F, op)
        cases.append(Case(op, "x: [2, 3]", f"y = {op}(x)", [away(2, 3, seed=1)], fn, ["x"]))
    cases.append(Case("gelu_tanh", "x: [2, 3]", 'y = gelu(x, approximate="tanh")',
                      [away(2, 3, seed=2)], lambda x: F.gelu(x, approximate="tanh"), ["x"]))
    for op in ["log", "sqrt", "rsqrt"]:
        cases.append(Case(op, "x: [2, 3]", f"y = {op}(x)", [positive(2, 3, seed=3)],
                          getattr(torch, op), ["x"]))
    # PyTorch's conventions at the kinks.
    edges = t(0.0, -0.0, -1.5, 2.0)
    cases += [
        Case("relu_at_0", "x: [4]", "y = relu(x)", [edges], torch.relu, ["x"]),
        Case("abs_at_0", "x: [4]", "y = abs(x)", [edges], torch.abs, ["x"]),
        Case("sqrt_at_0", "x: [3]", "y = sqrt(x)", [t(0.0, 1.0, 4.0)], torch.sqrt, ["x"]),
        Case("silu_gelu_at_0", "x: [2]", "a = silu(x); b = gelu(x); y = add(a, b)",
             [t(0.0, -0.0)], lambda x: F.silu(x) + F.gelu(x), ["x"]),
    ]
    return cases


def binary_cases() -> list[Case]:
    cases = []
    for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul),
                   ("div", torch.div), ("maximum", torch.maximum),
                   ("minimum", torch.minimum)]:
        cases.append(Case(f"{op}_broadcast", "a: [2, 1, 4]; b: [3, 1]", f"y = {op}(a, b)",
                          [away(2, 1, 4, seed=4), away(3, 1, seed=5)], fn, ["a", "b"]))
    cases += [
        Case("pow_tensor", "a: [5]; b: [5]", "y = pow(a, b)",
             [positive(5, seed=6), away(5, seed=7)], torch.pow, ["a", "b"]),
        Case("pow_scalars", "a: [5]", "p = pow(a, 3.0); q = pow(2.0, a); y = add(p, q)",
             [away(5, seed=8)], lambda a: a ** 3.0 + 2.0 ** a, ["a"]),
        Case("pow_zero_base", "a: [3]; b: [3]", "y = pow(a, b)",
             [t(0.0, 0.0, 2.0), t(2.0, 0.0, 0.5)], torch.pow, ["a", "b"]),
        Case("scalar_operands", "a: [4]",
             "p = sub(2.0, a); q = div(1.0, a); r = mul(a, 3.0); s = add(p, q); y = add(s, r)",
             [away(4, seed=9)], lambda a: (2.0 - a) + 1.0 / a + a * 3.0, ["a"]),
        Case("maximum_minimum_ties", "a: [3]; b: [3]",
             "p = maximum(a, b); q = minimum(a, b); q2 = mul(q, 3.0); y = add(p, q2)",
             [t(1.0, 2.0, 3.0), t(1.0, 5.0, 0.0)],
             lambda a, b: torch.maximum(a, b) + 3.0 * torch.minimum(a, b), ["a", "b"]),
        Case("where", "a: [2, 3]; b: [3]", "c = gt(a, 0.0); s = mul(a, a); y = where(c, s, b)",
             [away(2, 3, seed=10), away(3, seed=11)],
             lambda a, b: torch.where(a > 0.0, a * a, b), ["a", "b"]),
        Case("to_f32_and_back", "x: [4]", "a = to(x, f32); b = mul(a, a); y = to(b, f64)",
             [t(0.5, -1.25, 2.0, 3.0)],
             lambda x: (x.to(torch.float32) ** 2).to(F64), ["x"]),
    ]
    return cases


def reduce_cases() -> list[Case]:
    x = away(2, 3, 4, seed=12)
    ties = t(1.0, 3.0, 3.0, 2.0, 2.0, 2.0).reshape(2, 3)
    cases = [
        Case("sum_all", "x: [2, 3, 4]", "y = sum(x)", [x], torch.sum, ["x"]),
        Case("sum_dims_keepdim", "x: [2, 3, 4]", "s = sum(x, dim=[0, 2], keepdim=true); "
             "y = mul(s, s)", [x], lambda x: x.sum(dim=[0, 2], keepdim=True) ** 2, ["x"]),
        Case("mean_dim", "x: [2, 3, 4]", "m = mean(x, dim=-1); y = mul(m, m)", [x],
             lambda x: x.mean(dim=-1) ** 2, ["x"]),
        Case("mean_all", "x: [2, 3, 4]", "m = mean(x); y = mul(m, m)", [x],
             lambda x: x.mean() ** 2, ["x"]),
        Case("amax_dim", "x: [2, 3, 4]", "y = amax(x, dim=1)", [x],
             lambda x: x.amax(dim=1), ["x"]),
        Case("amin_dims", "x: [2, 3, 4]", "y = amin(x, dim=[0, 2])", [x],
             lambda x: x.amin(dim=[0, 2]), ["x"]),
        Case("amax_ties", "x: [2, 3]", "y = amax(x, dim=1)", [ties],
             lambda x: x.amax(dim=1), ["x"]),
        Case("amin_ties_all", "x: [2, 3]", "y = amin(x)", [ties], torch.amin, ["x"]),
        Case("max_dim_ties", "x: [2, 3]", "y, i = max(x, dim=1)", [ties],
             lambda x: x.max(dim=1).values, ["x"]),
        Case("min_dim_keepdim", "x: [2, 3, 4]", "y, i = min(x, dim=2, keepdim=true)", [x],
             lambda x: x.min(dim=2, keepdim=True).values, ["x"]),
        Case("max_all_ties", "x: [2, 3]", "y = max(x)", [ties], torch.max, ["x"]),
        Case("cumsum", "x: [2, 3, 4]", "c = cumsum(x, dim=1); y = mul(c, c)", [x],
             lambda x: x.cumsum(dim=1) ** 2, ["x"]),
    ]
    for name, stmt, fn in [
        ("softmax", "softmax(x, dim=1)", lambda x: F.softmax(x, dim=1)),
        ("log_softmax", "log_softmax(x, dim=-1)", lambda x: F.log_softmax(x, dim=-1)),
    ]:
        # Weighted, or the gradient of the sum of a softmax is 0.
        w = randn(2, 3, 4, seed=13)
        cases.append(Case(name, "x: [2, 3, 4]; w: [2, 3, 4]", f"s = {stmt}; y = mul(s, w)",
                          [x, w], lambda x, w, fn=fn: fn(x) * w, ["x", "w"], rtol=1e-11))
    return cases


def layout_cases() -> list[Case]:
    x = away(2, 3, 4, seed=14)
    w = randn(2, 3, 4, seed=15)
    cases = []
    for name, stmt, fn in [
        ("reshape", "reshape(x, [6, 4])", lambda x: x.reshape(6, 4)),
        ("permute", "permute(x, [2, 0, 1])", lambda x: x.permute(2, 0, 1)),
        ("transpose", "transpose(x, 0, 2)", lambda x: x.transpose(0, 2)),
        ("unsqueeze_expand", "expand(u, [3, 2, 3, 4])",
         lambda x: x.unsqueeze(0).expand(3, 2, 3, 4)),
        ("flatten", "flatten(x, start_dim=1)", lambda x: x.flatten(start_dim=1)),
        ("unflatten", "unflatten(x, 2, [2, -1])", lambda x: x.unflatten(2, (2, -1))),
        ("slice_step", "slice(x, dim=2, start=1, step=2)", lambda x: x[:, :, 1::2]),
        ("select", "select(x, 1, -1)", lambda x: x.select(1, -1)),
        ("narrow", "narrow(x, 2, 1, 2)", lambda x: x.narrow(2, 1, 2)),
        ("pad_constant", "pad(x, [2, 1, 0, 1], value=-1.0)",
         lambda x: F.pad(x, [2, 1, 0, 1], value=-1.0)),
        ("pad_negative", "pad(x, [-1, 2])", lambda x: F.pad(x, [-1, 2])),
        ("pad_reflect", 'pad(x, [2, 1, 1, 0], mode="reflect")',
         lambda x: F.pad(x, [2, 1, 1, 0], mode="reflect")),
        ("pad_replicate", 'pad(x, [1, 2], mode="replicate")',
         lambda x: F.pad(x, [1, 2], mode="replicate")),
        ("repeat", "repeat(x, [2, 2, 1, 1])", lambda x: x.repeat(2, 2, 1, 1)),
        ("squeeze", "squeeze(u, 0)", lambda x: x.unsqueeze(0).squeeze(0)),
    ]:
        # A nonlinearity after the layout op, so the gradient depends on where each
        # element went.
        body = f"u = unsqueeze(x, 0); l = {stmt}; y = mul(l, l)"
        cases.append(Case(name, "x: [2, 3, 4]", body, [x], lambda x, fn=fn: fn(x) ** 2,
                          ["x"]))
    z = away(2, 3, 4, seed=16)
    cases += [
        Case("cat", "x: [2, 3, 4]; z: [2, 3, 4]", "c = cat([x, z, x], dim=1); y = mul(c, c)",
             [x, z], lambda x, z: torch.cat([x, z, x], dim=1) ** 2, ["x", "z"]),
        Case("stack", "x: [2, 3, 4]; z: [2, 3, 4]", "s = stack([x, z], dim=1); y = mul(s, s)",
             [x, z], lambda x, z: torch.stack([x, z], dim=1) ** 2, ["x", "z"]),
        Case("chunk", "x: [2, 3, 4]", "a, b = chunk(x, 2, dim=2); e = exp(b); y = mul(a, e)",
             [x], lambda x: x.chunk(2, dim=2)[0] * x.chunk(2, dim=2)[1].exp(), ["x"]),
        Case("split", "x: [2, 3, 4]; w: [2, 3, 4]",
             "a, b = split(x, [1, 2], dim=1); c = cat([b, a], dim=1); y = mul(c, w)",
             [x, w], lambda x, w: torch.cat(x.split([1, 2], dim=1)[::-1], dim=1) * w,
             ["x"]),
    ]
    return cases


def linalg_cases() -> list[Case]:
    return [
        Case("matmul_2d", "a: [3, 4]; b: [4, 5]", "m = matmul(a, b); y = mul(m, m)",
             [randn(3, 4, seed=17), randn(4, 5, seed=18)], lambda a, b: (a @ b) ** 2,
             ["a", "b"]),
        Case("matmul_batched_broadcast", "a: [2, 1, 3, 4]; b: [3, 4, 2]",
             "m = matmul(a, b); y = mul(m, m)",
             [randn(2, 1, 3, 4, seed=19), randn(3, 4, 2, seed=20)],
             lambda a, b: (a @ b) ** 2, ["a", "b"]),
        Case("matmul_vector_matrix", "a: [4]; b: [2, 4, 3]", "m = matmul(a, b); y = mul(m, m)",
             [randn(4, seed=21), randn(2, 4, 3, seed=22)], lambda a, b: (a @ b) ** 2,
             ["a", "b"]),
        Case("matmul_matrix_vector", "a: [3, 4]; b: [4]", "m = matmul(a, b); y = mul(m, m)",
             [randn(3, 4, seed=23), randn(4, seed=24)], lambda a, b: (a @ b) ** 2,
             ["a", "b"]),
        Case("bmm", "a: [2, 3, 4]; b: [2, 4, 5]", "m = bmm(a, b); y = mul(m, m)",
             [randn(2, 3, 4, seed=25), randn(2, 4, 5, seed=26)],
             lambda a, b: torch.bmm(a, b) ** 2, ["a", "b"]),
        Case("linear", "x: [2, 3, 4]; w: [5, 4]; b: [5]", "l = linear(x, w, b); y = gelu(l)",
             [randn(2, 3, 4, seed=27), randn(5, 4, seed=28), randn(5, seed=29)],
             lambda x, w, b: F.gelu(F.linear(x, w, b)), ["x", "w", "b"]),
        Case("addmm", "c: [5]; a: [3, 4]; b: [4, 5]",
             "m = addmm(c, a, b, beta=0.5, alpha=2.0); y = mul(m, m)",
             [randn(5, seed=30), randn(3, 4, seed=31), randn(4, 5, seed=32)],
             lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0) ** 2,
             ["c", "a", "b"]),
    ]


def norm_cases() -> list[Case]:
    x = randn(4, 6, 3, seed=33)
    w6, b6 = randn(6, seed=34), randn(6, seed=35)
    r = randn(4, 6, 3, seed=36)  # weights the output, or many gradients would be ~0
    rm, rv = randn(6, seed=37), positive(6, seed=38)
    return [
        Case("layer_norm", "x: [4, 6, 3]; w: [6, 3]; b: [6, 3]; r: [4, 6, 3]",
             "l = layer_norm(x, [6, 3], w, b); y = mul(l, r)",
             [x, randn(6, 3, seed=39), randn(6, 3, seed=40), r],
             lambda x, w, b, r: F.layer_norm(x, [6, 3], w, b) * r, ["x", "w", "b"], 1e-10),
        Case("group_norm", "x: [4, 6, 3]; w: [6]; b: [6]; r: [4, 6, 3]",
             "l = group_norm(x, 3, w, b); y = mul(l, r)", [x, w6, b6, r],
             lambda x, w, b, r: F.group_norm(x, 3, w, b) * r, ["x", "w", "b"], 1e-10),
        Case("batch_norm_train", "x: [4, 6, 3]; w: [6]; b: [6]; r: [4, 6, 3]",
             "l, m, v = batch_norm(x, None, None, w, b, training=true); y = mul(l, r)",
             [x, w6, b6, r],
             lambda x, w, b, r: F.batch_norm(x, None, None, w, b, training=True) * r,
             ["x", "w", "b"], 1e-10),
        Case("batch_norm_eval", "x: [4, 6, 3]; rm: [6]; rv: [6]; w: [6]; b: [6]; r: [4, 6, 3]",
             "l = batch_norm(x, rm, rv, w, b); y = mul(l, r)", [x, rm, rv, w6, b6, r],
             lambda x, rm, rv, w, b, r: F.batch_norm(x, rm, rv, w, b) * r,
             ["x", "w", "b"], 1e-10),
    ]


def rtol(name: str, default: float) -> float:
    """PyTorch's hardsigmoid backward multiplies by 1/6 rounded to f32, even in f64."""
    return 1e-7 if name.startswith("hardsigmoid") else default


def activation_cases() -> list[Case]:
    x = 3.0 * away(3, 8, seed=41)
    cases = []
    for name, stmt, fn in [
        ("clamp", "clamp(x, min=-0.5, max=0.5)", lambda x: torch.clamp(x, -0.5, 0.5)),
        ("hardtanh", "hardtanh(x)", F.hardtanh),
        ("relu6", "relu6(x)", F.relu6),
        ("leaky_relu", "leaky_relu(x, negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2)),
        ("elu", "elu(x, alpha=0.5)", lambda x: F.elu(x, 0.5)),
        ("selu", "selu(x)", F.selu),
        ("hardswish", "hardswish(x)", F.hardswish),
        ("hardsigmoid", "hardsigmoid(x)", F.hardsigmoid),
        ("mish", "mish(x)", F.mish),
        ("softplus", "softplus(x)", F.softplus),
        ("softplus_beta", "softplus(x, beta=2.0, threshold=1.0)",
         lambda x: F.softplus(x, 2.0, 1.0)),
        ("dropout_eval", "dropout(x, p=0.3)", lambda x: F.dropout(x, 0.3, training=False)),
    ]:
        cases.append(Case(name, "x: [3, 8]", f"y = {stmt}", [x], fn, ["x"], rtol(name, 1e-10)))
    # At the bounds, PyTorch passes the gradient (clamp: min <= x <= max).
    bounds = t(-0.5, 0.5, -1.0, 1.0, 0.0, 6.0, -3.0, 3.0)
    for name, stmt, fn in [
        ("clamp_at_bounds", "clamp(x, min=-0.5, max=0.5)", lambda x: torch.clamp(x, -0.5, 0.5)),
        ("clamp_min_at_bound", "clamp(x, min=0.0)", lambda x: torch.clamp(x, min=0.0)),
        ("hardtanh_at_bounds", "hardtanh(x)", F.hardtanh),
        ("relu6_at_bounds", "relu6(x)", F.relu6),
        ("leaky_relu_at_0", "leaky_relu(x, negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2)),
        ("hardswish_at_bounds", "hardswish(x)", F.hardswish),
        ("hardsigmoid_at_bounds", "hardsigmoid(x)", F.hardsigmoid),
    ]:
        cases.append(Case(name, "x: [8]", f"y = {stmt}", [bounds], fn, ["x"], rtol(name, 1e-12)))
    return cases


def conv_cases() -> list[Case]:
    """The conv and pool families (rules on branches convgrad and poolgrad)."""
    x = randn(2, 3, 7, 6, seed=42)
    r = randn(2, 4, 4, 4, seed=43)
    return [
        Case("conv2d", "x: [2, 3, 7, 6]; w: [4, 3, 3, 2]; b: [4]; r: [2, 4, 4, 4]",
             "c = conv2d(x, w, b, stride=2, padding=1); y = mul(c, r)",
             [x, randn(4, 3, 3, 2, seed=44), randn(4, seed=45), r],
             lambda x, w, b, r: F.conv2d(x, w, b, stride=2, padding=1) * r,
             ["x", "w", "b"], 1e-10),
        Case("conv2d_groups_dilation", "x: [2, 4, 7, 6]; w: [6, 2, 2, 2]",
             "c = conv2d(x, w, groups=2, dilation=2); y = mul(c, c)",
             [randn(2, 4, 7, 6, seed=46), randn(6, 2, 2, 2, seed=47)],
             lambda x, w: F.conv2d(x, w, groups=2, dilation=2) ** 2, ["x", "w"], 1e-10),
        Case("max_pool2d", "x: [2, 3, 7, 6]", "p = max_pool2d(x, 3, 2, 1); y = mul(p, p)",
             [x], lambda x: F.max_pool2d(x, 3, 2, 1) ** 2, ["x"]),
        Case("avg_pool2d", "x: [2, 3, 7, 6]", "p = avg_pool2d(x, 2); y = mul(p, p)",
             [x], lambda x: F.avg_pool2d(x, 2) ** 2, ["x"]),
        Case("conv1d", "x: [2, 3, 9]; w: [4, 3, 3]; b: [4]",
             "c = conv1d(x, w, b, padding=2, dilation=2); y = mul(c, c)",
             [randn(2, 3, 9, seed=48), randn(4, 3, 3, seed=49), randn(4, seed=50)],
             lambda x, w, b: F.conv1d(x, w, b, padding=2, dilation=2) ** 2,
             ["x", "w", "b"], 1e-10),
        Case("conv_transpose2d", "x: [2, 4, 3, 3]; w: [4, 2, 3, 3]; b: [2]",
             "c = conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1); "
             "y = mul(c, c)",
             [randn(2, 4, 3, 3, seed=51), randn(4, 2, 3, 3, seed=52), randn(2, seed=53)],
             lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                output_padding=1) ** 2,
             ["x", "w", "b"], 1e-10),
        # Ties inside a window: PyTorch gives the gradient to the first maximum.
        Case("max_pool2d_ties", "x: [1, 1, 3, 4]", "y = max_pool2d(x, 2, 1)",
             [t(1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 2.0, 2.0, 0.0, 3.0, 3.0, 2.0).reshape(1, 1, 3, 4)],
             lambda x: F.max_pool2d(x, 2, 1), ["x"]),
        Case("max_pool2d_ceil_dilation", "x: [2, 3, 7, 6]",
             "p = max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=true); y = mul(p, p)",
             [x], lambda x: F.max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=True) ** 2, ["x"]),
        Case("avg_pool2d_exclude_pad_ceil", "x: [2, 3, 7, 6]",
             "p = avg_pool2d(x, 3, 2, 1, ceil_mode=true, count_include_pad=false); "
             "y = mul(p, p)",
             [x], lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                         count_include_pad=False) ** 2, ["x"]),
        Case("adaptive_max_pool2d", "x: [2, 3, 7, 6]",
             "p = adaptive_max_pool2d(x, [3, 4]); y = mul(p, p)",
             [x], lambda x: F.adaptive_max_pool2d(x, [3, 4]) ** 2, ["x"]),
        Case("adaptive_avg_pool2d", "x: [2, 3, 7, 6]",
             "p = adaptive_avg_pool2d(x, [3, 4]); y = mul(p, p)",
             [x], lambda x: F.adaptive_avg_pool2d(x, [3, 4]) ** 2, ["x"]),
    ]


def conv_model() -> dict[str, object]:
    """The seed's model (tests/conv_model.rs's inputs): gradients of sum(conv2(conv1(x))).

    grad_w2[o] is the same for every output channel o (the cotangent is all ones), so the
    fixture keeps row 0 of it; grad_w1 is kept whole."""
    def values(shape: tuple[int, ...], seed: int, scale: float) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        i = torch.arange(n, dtype=torch.int64)
        v = ((i * 7919 + seed * 104729) % 2001).to(F64) / 1000.0 - 1.0
        return (v / scale).reshape(shape)

    doc: dict[str, object] = {}
    for name, dt in [("f32", torch.float32), ("f64", F64)]:
        x = values((2, 3, 16, 16), 1, 1.0).to(dt)
        w1 = values((512, 3, 3, 3), 2, 4.0).to(dt).requires_grad_()
        w2 = values((512, 512, 3, 3), 3, 64.0).to(dt).requires_grad_()
        F.conv2d(F.conv2d(x, w1, stride=2), w2, stride=2).sum().backward()
        assert torch.equal(w2.grad, w2.grad[:1].expand_as(w2.grad)) or dt == torch.float32
        doc[name] = {"grad_w1": encode(w1.grad), "grad_w2_row0": encode(w2.grad[0])}
    return doc


def main() -> None:
    cases = (unary_cases() + binary_cases() + reduce_cases() + layout_cases()
             + linalg_cases() + norm_cases() + activation_cases() + conv_cases())
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names are unique"
    doc = {
        "generator": "scripts/torch_fixtures_autograd.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    (OUT / "autograd.json").write_text(json.dumps(doc, indent=1) + "\n")
    model = {"generator": "scripts/torch_fixtures_autograd.py", "torch": torch.__version__,
             **conv_model()}
    (OUT / "conv_model_grad.json").write_text(json.dumps(model, indent=1) + "\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
