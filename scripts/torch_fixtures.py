#!/usr/bin/env python3
"""Writes PyTorch's answers for kiln's regression cases to tests/fixtures/torch/*.json.

Each case is a kiln graph, its inputs, and what PyTorch eager computes for them (or that
PyTorch raises). `tests/torch_fixtures.rs` reads the files (no Python needed) and runs every
case through the compiled function (CPU, every dynamic policy named) and the reference
interpreter. Tensors are stored as dtype, shape and the little-endian bytes in hex, so no
value is rounded on the way. Rerun after adding a case:

    python3 scripts/torch_fixtures.py
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch"

DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
    "f32": torch.float32,
    "f64": torch.float64,
}
NAMES = {v: k for k, v in DTYPES.items()}
ALL_POLICIES = ["static", "dynamic", "auto"]


def encode(t: torch.Tensor) -> dict[str, object]:
    """dtype, shape and C-order little-endian bytes of `t`."""
    t = t.detach().contiguous().cpu()
    flat = t.reshape(-1)
    raw = flat.view(torch.uint8) if t.dtype != torch.bool else flat.to(torch.uint8)
    return {
        "dtype": NAMES[t.dtype],
        "shape": list(t.shape),
        "hex": bytes(raw.tolist()).hex(),
    }


@dataclass
class Case:
    """One regression case; `fn` is PyTorch's meaning of `graph` on `inputs`."""

    name: str
    issue: str
    graph: str
    inputs: list[torch.Tensor]
    fn: Callable[..., Sequence[torch.Tensor] | torch.Tensor]
    policies: list[str] = field(default_factory=lambda: list(ALL_POLICIES))
    # Largest allowed |kiln - torch| in units in the last place of the output dtype.
    ulps: float = 0.0
    # The interpreter computes in f64 and rounds once; set when that differs from PyTorch's
    # f32 arithmetic by more than `ulps` (it is then checked against the compiled result).
    interp: bool = True

    def render(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "name": self.name,
            "issue": self.issue,
            "graph": self.graph,
            "policies": self.policies,
            "ulps": self.ulps,
            "interp": self.interp,
            "inputs": [encode(t) for t in self.inputs],
        }
        try:
            out = self.fn(*self.inputs)
        except (
            RuntimeError,
            ValueError,
            TypeError,
            IndexError,
            NotImplementedError,
        ) as e:
            doc["error"] = str(e).splitlines()[0]
            return doc
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        doc["outputs"] = [encode(o) for o in outs]
        return doc


def graph(name: str, inputs: str, body: str, outputs: str) -> str:
    lines = [f"graph {name}"]
    lines += [f"input {d.strip()}" for d in inputs.split(";") if d.strip()]
    lines += [b.strip() for b in body.split(";") if b.strip()]
    lines.append(f"output {outputs}")
    return "\n".join(lines) + "\n"


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(shape: Sequence[int], dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=torch.float64).to(dtype)


def derived_one_cases() -> list[Case]:
    """12.1: a size-1 dim that is derived (a pool's output), not literal."""
    x1 = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    x4 = randn((2, 3, 4, 4), torch.float32, 1)
    return [
        Case(
            "broadcast_pool_output_of_size_1",
            "12.1",
            graph(
                "a1",
                "x: f32[N, C, H, W]; y: f32[P, Q]",
                "p = max_pool2d(x, 2); z = add(p, y)",
                "z",
            ),
            [x1, torch.zeros(3, 4)],
            lambda x, y: F.max_pool2d(x, 2) + y,
        ),
        Case(
            "broadcast_pool_output_of_size_1_wide",
            "12.1",
            graph(
                "a1",
                "x: f32[N, C, H, W]; y: f32[P, Q]",
                "p = max_pool2d(x, 2); z = add(p, y)",
                "z",
            ),
            [x1, randn((1, 3000), torch.float32, 2)],
            lambda x, y: F.max_pool2d(x, 2) + y,
        ),
        Case(
            "squeeze_pool_output_of_size_1",
            "12.1",
            graph(
                "s1",
                "x: f32[N, C, H, W]",
                "p = max_pool2d(x, 3, 2); z = squeeze(p)",
                "z",
            ),
            [x4],
            lambda x: torch.squeeze(F.max_pool2d(x, 3, 2)),
        ),
        Case(
            "squeeze_dim_pool_output_of_size_1",
            "12.1",
            graph(
                "s2",
                "x: f32[N, C, H, W]",
                "p = max_pool2d(x, 3, 2); z = squeeze(p, -1)",
                "z",
            ),
            [x4],
            lambda x: torch.squeeze(F.max_pool2d(x, 3, 2), -1),
        ),
        Case(
            "expand_pool_output_of_size_1",
            "12.1",
            graph(
                "e1",
                "x: f32[N, C, H, W]",
                "p = max_pool2d(x, 3, 2); z = expand(p, [2, 3, 5, 5])",
                "z",
            ),
            [x4],
            lambda x: F.max_pool2d(x, 3, 2).expand(2, 3, 5, 5),
        ),
        Case(
            "where_broadcasts_pool_output_of_size_1",
            "12.1",
            graph(
                "w1",
                "c: bool[P, Q]; x: f32[N, C, H, W]",
                "p = max_pool2d(x, 2); q = reshape(p, [1, 1]); z = where(c, q, 0.5)",
                "z",
            ),
            [torch.tensor([[True, False, True], [False, True, True]]), x1],
            lambda c, x: torch.where(c, F.max_pool2d(x, 2).reshape(1, 1), 0.5),
        ),
    ]


def bool_cases() -> list[Case]:
    """12.2 and 12.8: bool arithmetic and the ops PyTorch refuses on bools."""
    a = torch.tensor([True, True, False])
    b = torch.tensor([True, False, False])
    cases = [
        Case(
            "bool_add_inside_a_kernel",
            "12.2",
            graph("b1", "a: bool[N]; b: bool[N]", "s = add(a, b); y = to(s, f32)", "y"),
            [a, b],
            lambda a, b: torch.add(a, b).to(torch.float32),
        ),
        Case(
            "bool_add_then_mul_inside_a_kernel",
            "12.2",
            graph(
                "b2", "a: bool[N]; b: bool[N]", "s = add(a, b); t = mul(s, 3.0)", "t"
            ),
            [a, b],
            lambda a, b: torch.add(a, b) * 3.0,
        ),
    ]
    for op in ["neg", "abs", "relu", "floor", "ceil", "silu"]:
        fn = getattr(torch, op) if hasattr(torch, op) else getattr(F, op)
        cases.append(
            Case(
                f"{op}_of_bool_is_refused",
                "12.8",
                graph("e", "a: bool[N]", f"y = {op}(a)", "y"),
                [a],
                fn,
            )
        )
    cases += [
        Case(
            "gelu_of_bool_is_refused",
            "12.8",
            graph("e", "a: bool[N]", "y = gelu(a)", "y"),
            [a],
            F.gelu,
        ),
        Case(
            "sub_bool_scalar_is_refused",
            "12.8",
            graph("e", "a: bool[N]", "y = sub(a, 2.0)", "y"),
            [a],
            lambda a: torch.sub(a, 2.0),
        ),
        Case(
            "sub_float_bool_is_refused",
            "12.8",
            graph("e", "x: f32[N]; a: bool[N]", "y = sub(x, a)", "y"),
            [torch.ones(3), a],
            torch.sub,
        ),
        Case(
            "pow_bool_bool_is_refused",
            "12.8",
            graph("e", "a: bool[N]; b: bool[N]", "y = pow(a, b)", "y"),
            [a, b],
            torch.pow,
        ),
        Case(
            "pow_bool_scalar_is_f32",
            "12.8",
            graph("p", "a: bool[N]", "y = pow(a, 2.0)", "y"),
            [a],
            lambda a: torch.pow(a, 2.0),
        ),
        Case(
            "amax_over_an_empty_dim_is_refused",
            "12.8",
            graph("e", "x: f32[N, M]", "y = amax(x, 1)", "y"),
            [torch.zeros(2, 0)],
            lambda x: torch.amax(x, 1),
        ),
        Case(
            "amin_of_an_empty_tensor_is_refused",
            "12.8",
            graph("e", "x: f32[N]", "y = amin(x)", "y"),
            [torch.zeros(0)],
            torch.amin,
        ),
        Case(
            "amax_keeping_an_empty_dim",
            "12.8",
            graph("e", "x: f32[N, M]", "y = amax(x, 1)", "y"),
            [torch.zeros(0, 3)],
            lambda x: torch.amax(x, 1),
        ),
    ]
    return cases


def promotion_cases() -> list[Case]:
    """12.3: torch.result_type's tiers (dimensioned tensors, 0-d tensors, Python scalars)."""
    h = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float16)
    s = torch.tensor(1.3, dtype=torch.float32)
    d = torch.tensor(1.3, dtype=torch.float64)
    a = torch.tensor([True, False, True])
    cases: list[Case] = []
    # The point is the dtype. The values may differ by one f16 ulp: PyTorch casts the 0-d
    # operand to f16 first in most kernels, but `mul(h, s)` reads it unrounded, as an opmath
    # scalar (and `mul(s, h)` does not); kiln always casts.
    for op in ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]:
        fn = getattr(torch, op)
        cases.append(
            Case(
                f"{op}_f16_with_0d_f32",
                "12.3",
                graph("t", "h: f16[N]; s: f32[]", f"y = {op}(h, s)", "y"),
                [h, s],
                fn,
                ulps=1.0,
            )
        )
        cases.append(
            Case(
                f"{op}_0d_f64_with_f16",
                "12.3",
                graph("t", "s: f64[]; h: f16[N]", f"y = {op}(s, h)", "y"),
                [d, h],
                fn,
                ulps=1.0,
            )
        )
    cases += [
        Case(
            "add_f16_with_0d_constant",
            "12.3",
            graph("t", "h: f16[N]", "c = tensor(1.3, dtype=f32); y = add(h, c)", "y"),
            [h],
            lambda h: h + torch.tensor(1.3, dtype=torch.float32),
            ulps=1.0,
        ),
        Case(
            "add_bool_with_0d_f64",
            "12.3",
            graph("t", "a: bool[N]; s: f64[]", "y = add(a, s)", "y"),
            [a, d],
            torch.add,
        ),
        Case(
            "add_0d_bf16_with_0d_f16",
            "12.3",
            graph("t", "p: bf16[]; q: f16[]", "y = add(p, q)", "y"),
            [
                torch.tensor(1.5, dtype=torch.bfloat16),
                torch.tensor(2.25, dtype=torch.float16),
            ],
            torch.add,
        ),
        Case(
            "where_f16_with_0d_f64",
            "12.3",
            graph("t", "c: bool[N]; h: f16[N]; s: f64[]", "y = where(c, h, s)", "y"),
            [a, h, d],
            torch.where,
        ),
        Case(
            "where_0d_f16_with_scalar",
            "12.3",
            graph("t", "c: bool[N]; s: f16[]", "y = where(c, s, 2.1)", "y"),
            [a, torch.tensor(0.7, dtype=torch.float16)],
            lambda c, s: torch.where(c, s, 2.1),
        ),
    ]
    return cases


def comparison_cases() -> list[Case]:
    """12.4: a comparison casts its Python scalar to the tensor's dtype."""
    cases: list[Case] = []
    for dt in ["f16", "bf16"]:
        x = torch.tensor([0.1, 0.2, 0.3, 0.7, 1.1], dtype=DTYPES[dt])
        for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
            for k in [0.1, 0.3, 0.7, 1.1]:
                fn = getattr(torch, op)
                cases.append(
                    Case(
                        f"{op}_{dt}_scalar_{k}",
                        "12.4",
                        graph("c", f"x: {dt}[N]", f"y = {op}(x, {k})", "y"),
                        [x],
                        lambda x, fn=fn, k=k: fn(x, k),
                    )
                )
        cases.append(
            Case(
                f"where_{dt}_scalar_then_f32",
                "12.4",
                graph(
                    "c",
                    f"c: bool[N]; x: {dt}[N]",
                    "w = where(c, x, 0.1); y = to(w, f32)",
                    "y",
                ),
                [torch.tensor([True, False, False, True, False]), x],
                lambda c, x: torch.where(c, x, 0.1).to(torch.float32),
            )
        )
    return cases


def trig_cases() -> list[Case]:
    """12.5: sin/cos over the whole range (Payne-Hanek reduction for large arguments)."""
    f32 = [1e5, 2e11, 1e16, 1e30, 3.4e38, -1.4e11, 4e15, 123456789.0, 1e-30, 0.0, -0.0]
    f32 += [math.pi * 2**k for k in range(0, 120, 7)]
    f64 = [
        1e5,
        4e9,
        1e16,
        1e22,
        1e30,
        1e300,
        1.7e308,
        -5e15,
        2.0**1000 * 0.7,
        1e-300,
        0.0,
    ]
    f64 += [math.pi * 2**k for k in range(0, 1000, 61)]
    cases = []
    for op in ["sin", "cos"]:
        for name, vals, dt in [
            ("f32", f32, torch.float32),
            ("f64", f64, torch.float64),
        ]:
            x = torch.tensor(vals, dtype=dt)
            cases.append(
                Case(
                    f"{op}_{name}_large_arguments",
                    "12.5",
                    graph("t", f"x: {name}[N]", f"y = {op}(x)", "y"),
                    [x],
                    getattr(torch, op),
                    policies=["static"],
                    ulps=2.0,
                )
            )
    # The large-argument path branches inside the kernel: also inside reduction and pooling
    # loops, and in the vector loop and its scalar tail (9 columns).
    big = torch.tensor(f32[:18], dtype=torch.float32).reshape(1, 2, 3, 3)
    cases += [
        Case(
            "sum_of_sin_of_large_arguments",
            "12.5",
            graph("t", "x: f32[N, C, H, W]", "s = sin(x); y = sum(s, [2, 3])", "y"),
            [big],
            lambda x: torch.sum(torch.sin(x), [2, 3]),
            # PyTorch sums in f32, kiln in f64: the 9 terms of size ~1 cancel to ~0.24.
            ulps=16.0,
        ),
        Case(
            "avg_pool_of_cos_of_large_arguments",
            "12.5",
            graph(
                "t",
                "x: f32[N, C, H, W]",
                "s = cos(x); y = avg_pool2d(s, 2, stride=1)",
                "y",
            ),
            [big],
            lambda x: F.avg_pool2d(torch.cos(x), 2, 1),
            ulps=4.0,
        ),
        Case(
            "softmax_of_sin_f64_large_arguments",
            "12.5",
            graph("t", "x: f64[N, M]", "s = sin(x); y = softmax(s, 1)", "y"),
            [torch.tensor(f64[:20], dtype=torch.float64).reshape(2, 10)],
            lambda x: torch.softmax(torch.sin(x), 1),
            ulps=4.0,
        ),
    ]
    return cases


def refused_valid_cases() -> list[Case]:
    """12.7 and 12.9: valid graphs kiln refused or panicked on."""
    x = randn((1, 2, 5, 5), torch.float32, 3)
    return [
        Case(
            "avg_pool2d_divisor_override",
            "12.7",
            graph(
                "p",
                "x: f32[N, C, H, W]",
                "y = avg_pool2d(x, 2, divisor_override=3)",
                "y",
            ),
            [x],
            lambda x: F.avg_pool2d(x, 2, divisor_override=3),
            ulps=4.0,
        ),
        Case(
            "avg_pool2d_divisor_override_padded",
            "12.7",
            graph(
                "p",
                "x: f32[N, C, H, W]",
                "y = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=true, divisor_override=-2)",
                "y",
            ),
            [x],
            lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=-2),
            ulps=4.0,
        ),
        Case(
            "squeeze_a_list_of_dims",
            "12.7",
            graph("s", "x: f32[A, B, C, D]", "y = squeeze(x, [0, 2, 3])", "y"),
            [randn((1, 3, 1, 2), torch.float32, 4)],
            lambda x: torch.squeeze(x, [0, 2, 3]),
        ),
        Case(
            "adaptive_avg_pool2d_zero_channels",
            "12.7",
            graph("a", "x: f32[N, C, H, W]", "y = adaptive_avg_pool2d(x, [2, 3])", "y"),
            [torch.zeros(1, 0, 5, 7)],
            lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
        ),
        Case(
            "adaptive_avg_pool2d_to_1x1_of_empty_planes_is_nan",
            "difftest seed 1934",
            graph("a", "x: f16[N, C, H, W]", "y = adaptive_avg_pool2d(x, [1, 1])", "y"),
            [torch.zeros(3, 3, 0, 2, dtype=torch.float16)],
            lambda x: F.adaptive_avg_pool2d(x, (1, 1)),
        ),
        Case(
            "adaptive_avg_pool2d_to_1x2_of_empty_planes_is_refused",
            "difftest seed 1934",
            graph("a", "x: f32[N, C, H, W]", "y = adaptive_avg_pool2d(x, [1, 2])", "y"),
            [torch.zeros(3, 3, 0, 2)],
            lambda x: F.adaptive_avg_pool2d(x, (1, 2)),
        ),
        Case(
            "adaptive_max_pool2d_zero_channels_is_refused",
            "12.7",
            graph("a", "x: f32[N, C, H, W]", "y = adaptive_max_pool2d(x, [2, 3])", "y"),
            [torch.zeros(1, 0, 5, 7)],
            lambda x: F.adaptive_max_pool2d(x, (2, 3)),
        ),
        Case(
            "transpose_0d",
            "12.9",
            graph("t", "x: f32[]", "y = transpose(x, 0, 0); z = mul(y, 2.0)", "z"),
            [torch.tensor(1.5)],
            lambda x: torch.transpose(x, 0, 0) * 2.0,
        ),
        Case(
            "softmax_0d",
            "12.9",
            graph("t", "x: f32[]", "y = softmax(x, 0)", "y"),
            [torch.tensor(-3.25)],
            lambda x: torch.softmax(x, 0),
        ),
        Case(
            "softmax_0d_inf_is_nan",
            "12.9",
            graph("t", "x: f64[]", "y = softmax(x, -1)", "y"),
            [torch.tensor(math.inf, dtype=torch.float64)],
            lambda x: torch.softmax(x, -1),
        ),
    ]


def difftest_cases() -> list[Case]:
    """Found by scripts/difftest.py (doc/DIFFTEST.md): f16/bf16 results of ops inside a fused
    kernel were kept at f32 precision; PyTorch rounds every op's result."""
    x = torch.tensor([1.0, -0.3, 2.5, 0.123], dtype=torch.bfloat16)
    h = torch.tensor([0.3, 1.7, -2.2, 0.05], dtype=torch.float16)
    return [
        Case(
            "bf16_sigmoid_read_as_f64",
            "difftest seed 137",
            graph("d", "x: bf16[N]", "s = sigmoid(x); y = to(s, f64)", "y"),
            [x],
            lambda x: torch.sigmoid(x).to(torch.float64),
        ),
        Case(
            "bf16_sum_read_by_minimum_with_f16",
            "difftest seed 133",
            graph(
                "d",
                "x: bf16[N]",
                "s = silu(x); a = add(s, 0.5); h = to(a, f16); y = minimum(h, a)",
                "y",
            ),
            [x],
            lambda x: torch.minimum(
                (F.silu(x) + 0.5).to(torch.float16), F.silu(x) + 0.5
            ),
        ),
        Case(
            "f16_chain_rounds_every_op",
            "difftest",
            graph(
                "d",
                "h: f16[N]",
                "a = mul(h, 3.1); b = exp(a); c = mul(b, h); y = to(c, f32)",
                "y",
            ),
            [h],
            lambda h: (torch.exp(h * 3.1) * h).to(torch.float32),
        ),
    ]


def zero_d_reduction_cases() -> list[Case]:
    """Found by scripts/difftest.py (seed 1814): a reduction of a 0-d tensor over dim -1 or 0
    panicked in validation (rank 0 - 1)."""
    x = torch.tensor(-2.5)
    cases = []
    for op in ["sum", "mean", "amax", "amin"]:
        for dims, keep in [("[-1]", "false"), ("[0]", "true"), ("", "false")]:
            arg = f", {dims}, keepdim={keep}" if dims else ""
            dim_list = [int(d) for d in dims.strip("[]").split(",")] if dims else None
            fn = getattr(torch, op)
            cases.append(
                Case(
                    f"{op}_0d_dims{dims or '_none'}_keepdim_{keep}",
                    "difftest seed 1814",
                    graph("r", "x: f32[]", f"y = {op}(x{arg})", "y"),
                    [x],
                    (lambda x, fn=fn, d=dim_list, k=keep == "true": fn(x, d, k))
                    if dim_list
                    else (lambda x, fn=fn: fn(x)),
                )
            )
    return cases


def unbatched_pool_cases() -> list[Case]:
    """Found by scripts/difftest.py (seeds 13653, 17895): pooling refused an unbatched
    `(C, H, W)` input, which PyTorch pools as one batch element and returns as rank 3."""
    # Positive values: sums of mixed signs cancel, and PyTorch's f32 sum then differs from
    # the exact one by more ulps of the (small) result than the tolerance allows.
    x = randn((3, 7, 6), torch.float32, 21).abs() + 0.25
    ops = [
        (
            "max_pool2d_padded_ceil",
            "y = max_pool2d(x, 3, stride=2, padding=1, ceil_mode=true)",
            lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
        ),
        (
            "max_pool2d_dilated",
            "y = max_pool2d(x, 2, stride=2, dilation=2)",
            lambda x: F.max_pool2d(x, 2, 2, 0, 2),
        ),
        (
            "max_pool2d_rect",
            "y = max_pool2d(x, [2, 3], stride=[1, 2])",
            lambda x: F.max_pool2d(x, (2, 3), (1, 2)),
        ),
        (
            "avg_pool2d_padded_ceil",
            "y = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=true)",
            lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        ),
        (
            "avg_pool2d_exclude_pad",
            "y = avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=false)",
            lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        ),
        (
            "avg_pool2d_divisor_override",
            "y = avg_pool2d(x, 2, divisor_override=3)",
            lambda x: F.avg_pool2d(x, 2, divisor_override=3),
        ),
        (
            "adaptive_avg_pool2d",
            "y = adaptive_avg_pool2d(x, [2, 4])",
            lambda x: F.adaptive_avg_pool2d(x, (2, 4)),
        ),
        (
            "adaptive_avg_pool2d_to_1x1",
            "y = adaptive_avg_pool2d(x, [1, 1])",
            lambda x: F.adaptive_avg_pool2d(x, (1, 1)),
        ),
        (
            "adaptive_max_pool2d",
            "y = adaptive_max_pool2d(x, [3, 4])",
            lambda x: F.adaptive_max_pool2d(x, (3, 4)),
        ),
        (
            "max_pool2d_relu_add",
            "p = max_pool2d(x, 2); r = relu(p); y = add(r, 1.5)",
            lambda x: F.relu(F.max_pool2d(x, 2)) + 1.5,
        ),
    ]
    cases = [
        Case(
            f"unbatched_{name}",
            "difftest seeds 13653, 17895",
            graph("u", "x: f32[C, H, W]", body, "y"),
            [x],
            fn,
            ulps=4.0,
        )
        for name, body, fn in ops
    ]
    # PyTorch's emptiness rules at rank 3: max/avg pooling need C, H and W; adaptive max
    # pooling only H and W; adaptive average pooling to 1x1 nothing (a mean, NaN).
    empties = [
        (
            "max_pool2d_zero_channels_is_refused",
            (0, 4, 4),
            "y = max_pool2d(x, 2)",
            lambda x: F.max_pool2d(x, 2),
        ),
        (
            "avg_pool2d_zero_height_is_refused",
            (2, 0, 4),
            "y = avg_pool2d(x, 2)",
            lambda x: F.avg_pool2d(x, 2),
        ),
        (
            "adaptive_max_pool2d_zero_channels",
            (0, 5, 7),
            "y = adaptive_max_pool2d(x, [2, 3])",
            lambda x: F.adaptive_max_pool2d(x, (2, 3)),
        ),
        (
            "adaptive_max_pool2d_zero_width_is_refused",
            (2, 5, 0),
            "y = adaptive_max_pool2d(x, [2, 3])",
            lambda x: F.adaptive_max_pool2d(x, (2, 3)),
        ),
        (
            "adaptive_avg_pool2d_zero_channels",
            (0, 5, 7),
            "y = adaptive_avg_pool2d(x, [2, 3])",
            lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
        ),
        (
            "adaptive_avg_pool2d_to_1x1_of_empty_planes_is_nan",
            (2, 0, 3),
            "y = adaptive_avg_pool2d(x, [1, 1])",
            lambda x: F.adaptive_avg_pool2d(x, (1, 1)),
        ),
    ]
    cases += [
        Case(
            f"unbatched_{name}",
            "difftest seeds 13653, 17895",
            graph("u", "x: f32[C, H, W]", body, "y"),
            [torch.zeros(shape)],
            fn,
        )
        for name, shape, body, fn in empties
    ]
    # Ranks other than 3 and 4 stay refused, as in PyTorch.
    cases.append(
        Case(
            "max_pool2d_rank_2_is_refused",
            "difftest seeds 13653, 17895",
            graph("u", "x: f32[H, W]", "y = max_pool2d(x, 2)", "y"),
            [randn((4, 4), torch.float32, 22)],
            lambda x: F.max_pool2d(x, 2),
        )
    )
    return cases


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    groups = {
        "derived_one": derived_one_cases(),
        "bool": bool_cases(),
        "promotion": promotion_cases(),
        "comparison": comparison_cases(),
        "trig": trig_cases(),
        "refused_valid": refused_valid_cases(),
        "difftest": difftest_cases() + zero_d_reduction_cases(),
        "unbatched_pool": unbatched_pool_cases(),
    }
    for group, cases in groups.items():
        doc = {
            "generator": "scripts/torch_fixtures.py",
            "torch": torch.__version__,
            "cases": [c.render() for c in cases],
        }
        path = OUT / f"{group}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
