#!/usr/bin/env python3
"""Writes PyTorch autograd's answers for kiln's pool backward family to
tests/fixtures/torch/pool_grad.json.

Each case is a graph calling `max_pool2d_backward`, `avg_pool2d_backward`,
`adaptive_avg_pool2d_backward` or `adaptive_max_pool2d_backward` on a forward input `x` and a
cotangent `g`, and PyTorch's gradient of the forward pooling with respect to `x` for that
cotangent (`torch.autograd.grad`), or PyTorch's error from the ATen backward op. The format and
the reader are those of scripts/torch_fixtures.py (tests/torch_fixtures.rs reads the file; no
Python needed there). Rerun after adding a case:

    python3 scripts/torch_fixtures_pool_grad.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import torch_fixtures as tf
from torch_fixtures import Case, graph, randn

NAN = float("nan")
# PyTorch accumulates an f32 gradient in f32, window by window, and the reference interpreter
# in f64 (rounding once): where windows overlap and the terms cancel, they differ by more ulps
# of the (small) result than of the terms. This absolute allowance is a few f32 ulps of the
# largest term (|g| / divisor < 4 for these cotangents).
F32_ATOL = 2e-6


@dataclass
class GradCase(Case):
    atol: float = 0.0

    def render(self) -> dict[str, object]:
        doc = super().render()
        doc["atol"] = self.atol
        return doc


def vjp(forward):
    """`(x, g) -> d(forward(x))/dx . g`, as autograd computes it."""

    def fn(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone().requires_grad_(True)
        (dx,) = torch.autograd.grad(forward(x), x, g)
        return dx

    return fn


def cotangent(x: torch.Tensor, forward, seed: int) -> torch.Tensor:
    shape = forward(x).shape
    return randn(shape, x.dtype, seed)


def case(name, dtype, x_shape, out_dims, call, forward, x, seed, ulps=4.0, policies=None):
    """A case `dx = call` over `x: dtype[x_shape]` and `g: dtype[out_dims]`."""
    d = tf.NAMES[dtype]
    g = cotangent(x, forward, seed)
    kw = {} if policies is None else {"policies": policies}
    return GradCase(
        name,
        "17",
        graph("pg", f"x: {d}[{x_shape}]; g: {d}[{out_dims}]", f"dx = {call}", "dx"),
        [x, g],
        lambda x, g: vjp(forward)(x, g),
        ulps=ulps,
        atol=F32_ATOL if dtype == torch.float32 else 0.0,
        **kw,
    )


def ties(shape, dtype, seed: int) -> torch.Tensor:
    """Values in {0, 1, 2}: constant regions, so most windows have several maxima."""
    return torch.randint(0, 3, shape, generator=tf.gen(seed)).to(dtype)


def max_cases() -> list[Case]:
    cases = []
    for dtype in (torch.float32, torch.float64):
        d = tf.NAMES[dtype]
        x = randn((2, 3, 9, 8), dtype, 1)
        cases.append(case(
            f"max_pool2d_backward_overlapping_3x3_stride_2_{d}", dtype, "N, C, H, W",
            "N, C, OH, OW", "max_pool2d_backward(g, x, 3, stride=2)",
            lambda t: F.max_pool2d(t, 3, stride=2), x, 2))
    x = randn((2, 2, 7, 9), torch.float32, 3)
    cases.append(case(
        "max_pool2d_backward_padding_dilation", torch.float32, "N, C, H, W", "N, C, OH, OW",
        "max_pool2d_backward(g, x, [3, 2], stride=[2, 1], padding=[1, 1], dilation=[2, 3])",
        lambda t: F.max_pool2d(t, (3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 3)),
        x, 4))
    x = randn((1, 2, 8, 7), torch.float32, 5)
    cases.append(case(
        "max_pool2d_backward_ceil_mode_overhang", torch.float32, "N, C, H, W", "N, C, OH, OW",
        "max_pool2d_backward(g, x, 3, stride=2, padding=1, ceil_mode=true)",
        lambda t: F.max_pool2d(t, 3, stride=2, padding=1, ceil_mode=True), x, 6))
    x = ties((2, 2, 7, 7), torch.float32, 7)
    x[0, 0, 1, 1] = NAN
    x[0, 0, 2, 3] = NAN
    x[1, 1, :, :] = -float("inf")
    cases.append(case(
        "max_pool2d_backward_ties_first_max_last_nan_and_all_minus_inf", torch.float32,
        "N, C, H, W", "N, C, OH, OW", "max_pool2d_backward(g, x, 3, stride=1, padding=1)",
        lambda t: F.max_pool2d(t, 3, stride=1, padding=1), x, 8))
    x = randn((3, 6, 5), torch.float64, 9)
    cases.append(case(
        "max_pool2d_backward_unbatched", torch.float64, "C, H, W", "C, OH, OW",
        "max_pool2d_backward(g, x, 2, stride=1)", lambda t: F.max_pool2d(t, 2, stride=1),
        x, 10))
    return cases


def avg_cases() -> list[Case]:
    cases = []
    for include in (True, False):
        for dtype in (torch.float32, torch.float64):
            d = tf.NAMES[dtype]
            x = randn((2, 3, 8, 7), dtype, 11)
            flag = "true" if include else "false"
            cases.append(case(
                f"avg_pool2d_backward_padding_ceil_mode_count_include_pad_{flag}_{d}", dtype,
                "N, C, H, W", "N, C, OH, OW",
                f"avg_pool2d_backward(g, x, 3, stride=2, padding=1, ceil_mode=true, "
                f"count_include_pad={flag})",
                lambda t, include=include: F.avg_pool2d(
                    t, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=include),
                x, 12))
    x = randn((2, 2, 9, 6), torch.float32, 13)
    cases.append(case(
        "avg_pool2d_backward_overlapping_3x3_stride_2", torch.float32, "N, C, H, W",
        "N, C, OH, OW", "avg_pool2d_backward(g, x, 3, stride=2)",
        lambda t: F.avg_pool2d(t, 3, stride=2), x, 14))
    x = randn((1, 3, 7, 7), torch.float32, 15)
    cases.append(case(
        "avg_pool2d_backward_divisor_override", torch.float32, "N, C, H, W", "N, C, OH, OW",
        "avg_pool2d_backward(g, x, [3, 2], stride=[2, 3], padding=[1, 1], ceil_mode=true, "
        "divisor_override=5)",
        lambda t: F.avg_pool2d(t, (3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True,
                               divisor_override=5), x, 16))
    x = randn((3, 5, 6), torch.float64, 17)
    cases.append(case(
        "avg_pool2d_backward_unbatched", torch.float64, "C, H, W", "C, OH, OW",
        "avg_pool2d_backward(g, x, 2, padding=1, count_include_pad=false)",
        lambda t: F.avg_pool2d(t, 2, padding=1, count_include_pad=False), x, 18))
    return cases


def adaptive_cases() -> list[Case]:
    cases = []
    for dtype in (torch.float32, torch.float64):
        d = tf.NAMES[dtype]
        x = randn((2, 3, 7, 10), dtype, 19)
        cases.append(case(
            f"adaptive_avg_pool2d_backward_sizes_that_do_not_divide_{d}", dtype,
            "N, C, H, W", "N, C, 3, 4", "adaptive_avg_pool2d_backward(g, x)",
            lambda t: F.adaptive_avg_pool2d(t, (3, 4)), x, 20))
        x = ties((2, 3, 7, 10), dtype, 21)
        x[1, 2, 0, 1] = NAN
        cases.append(case(
            f"adaptive_max_pool2d_backward_overlapping_windows_and_ties_{d}", dtype,
            "N, C, H, W", "N, C, 3, 4", "adaptive_max_pool2d_backward(g, x)",
            lambda t: F.adaptive_max_pool2d(t, (3, 4)), x, 22))
    x = randn((2, 5, 4), torch.float32, 23)
    cases.append(case(
        "adaptive_avg_pool2d_backward_unbatched_upsampling", torch.float32, "C, H, W",
        "C, 7, 6", "adaptive_avg_pool2d_backward(g, x)",
        lambda t: F.adaptive_avg_pool2d(t, (7, 6)), x, 24))
    return cases


def error_cases() -> list[Case]:
    x = randn((1, 2, 6, 6), torch.float32, 25)
    g = randn((1, 2, 3, 2), torch.float32, 26)
    return [
        Case(
            "avg_pool2d_backward_refuses_a_grad_output_of_the_wrong_shape",
            "17",
            graph("pg", "x: f32[N, C, H, W]; g: f32[N, C, OH, OW]",
                  "dx = avg_pool2d_backward(g, x, 2)", "dx"),
            [x, g],
            lambda x, g: torch.ops.aten.avg_pool2d_backward(
                g, x, [2, 2], [2, 2], [0, 0], False, True, None),
        ),
        Case(
            "max_pool2d_backward_refuses_padding_over_half_the_kernel",
            "17",
            graph("pg", "x: f32[N, C, H, W]; g: f32[N, C, OH, OW]",
                  "dx = max_pool2d_backward(g, x, 2, padding=2)", "dx"),
            [x, randn((1, 2, 5, 5), torch.float32, 27)],
            lambda x, g: vjp(lambda t: F.max_pool2d(t, 2, padding=2))(x, g),
        ),
    ]


def main() -> None:
    cases = max_cases() + avg_cases() + adaptive_cases() + error_cases()
    doc = {
        "generator": "scripts/torch_fixtures_pool_grad.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = tf.OUT / "pool_grad.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
