#!/usr/bin/env python3
"""Writes PyTorch's answers for the data movement ops to tests/fixtures/torch/movement.json.

cat, stack, split, chunk, narrow, slice with a step, select, pad (constant, reflect,
replicate) and repeat, each on a few dtypes and edge cases (negative and clamped bounds,
empty parts, negative padding), plus cases where PyTorch raises (kiln must refuse them).
`tests/torch_fixtures.rs` (`movement_ops_match_pytorch`) reads the file; no Python needed
there. Rerun after adding a case:

    python3 scripts/torch_fixtures_movement.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_fixtures import ALL_POLICIES, OUT, Case, graph, randn  # noqa: E402

ISSUE = "16"


def case(name, inputs, body, outputs, xs, fn, policies=None) -> Case:
    return Case(
        name=name,
        issue=ISSUE,
        graph=graph(name, inputs, body, outputs),
        inputs=xs,
        fn=fn,
        policies=policies or list(ALL_POLICIES),
    )


def value_cases() -> list[Case]:
    out = []
    for dt, torch_dt in [("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        x = randn((4, 3), torch_dt, 1)
        y = randn((2, 3), torch_dt, 2)
        z = randn((3, 5, 6), torch_dt, 3)
        out += [
            case(f"cat_{dt}", f"x: {dt}[N, C]; y: {dt}[M, C]", "c = cat([x, y, x])", "c",
                 [x, y], lambda x, y: torch.cat([x, y, x])),
            case(f"stack_{dt}", f"x: {dt}[N, C]", "s = stack([x, x], dim=-1)", "s",
                 [x], lambda x: torch.stack([x, x], dim=-1)),
            case(f"chunk_{dt}", f"z: {dt}[A, B, C]", "a, b, c = chunk(z, 4, dim=1)", "a, b, c",
                 [z], lambda z: torch.chunk(z, 4, dim=1)),
            case(f"split_{dt}", f"z: {dt}[A, B, C]", "a, b, c = split(z, 2, dim=-1)", "a, b, c",
                 [z], lambda z: torch.split(z, 2, dim=-1)),
            case(f"split_sections_{dt}", f"z: {dt}[A, B, C]", "a, b, c = split(z, [2, 0, 3], dim=1)",
                 "a, b, c", [z], lambda z: torch.split(z, [2, 0, 3], dim=1)),
            case(f"narrow_{dt}", f"z: {dt}[A, B, C]", "n = narrow(z, -1, -4, 3)", "n",
                 [z], lambda z: torch.narrow(z, -1, -4, 3)),
            case(f"slice_{dt}", f"z: {dt}[A, B, C]", "s = slice(z, 2, 1, -1, 2); t = slice(s, 1, -100, 4, 3)",
                 "t", [z], lambda z: z[:, -100:4:3, 1:-1:2]),
            case(f"select_{dt}", f"z: {dt}[A, B, C]", "s = select(z, -2, -5)", "s",
                 [z], lambda z: torch.select(z, -2, -5)),
            case(f"pad_constant_{dt}", f"z: {dt}[A, B, C]", "p = pad(z, [2, -1, 0, 3], value=0.3)", "p",
                 [z], lambda z: F.pad(z, [2, -1, 0, 3], value=0.3)),
            case(f"pad_reflect_{dt}", f"z: {dt}[A, B, C]", 'p = pad(z, [5, 4, 2, 1], mode="reflect")', "p",
                 [z], lambda z: F.pad(z, [5, 4, 2, 1], mode="reflect")),
            case(f"pad_replicate_{dt}", f"z: {dt}[A, B, C]", 'p = pad(z, [3, 0, 1, 6], mode="replicate")',
                 "p", [z], lambda z: F.pad(z, [3, 0, 1, 6], mode="replicate")),
            case(f"repeat_{dt}", f"x: {dt}[N, C]", "r = repeat(x, [2, 1, 3])", "r",
                 [x], lambda x: x.repeat(2, 1, 3)),
        ]
    b = randn((3, 4), torch.float32, 4) > 0
    h = randn((3, 2), torch.float16, 5)
    out += [
        case("cat_promotes_bool_f16", "b: bool[N, C]; h: f16[N, D]", "c = cat([b, h], dim=1)", "c",
             [b, h], lambda b, h: torch.cat([b, h], dim=1)),
        case("pad_bool_value", "b: bool[N, C]", "p = pad(b, [1, 1], value=2)", "p",
             [b], lambda b: F.pad(b, [1, 1], value=2)),
        case("chunk_fewer_parts", "v: f32[N]", "a, b, c = chunk(v, 4)", "a, b, c",
             [randn((5,), torch.float32, 6)], lambda v: torch.chunk(v, 4)),
        case("repeat_zero", "x: f32[N, C]", "r = repeat(x, [0, 2])", "r",
             [randn((2, 3), torch.float32, 7)], lambda x: x.repeat(0, 2)),
    ]
    return out


def unpack(parts, n):
    """`a, b, c = parts` as Python runs it: a ValueError unless there are exactly n."""
    if len(parts) != n:
        raise ValueError(f"not enough values to unpack (expected {n}, got {len(parts)})")
    return parts


def error_cases() -> list[Case]:
    x = randn((2, 3), torch.float32, 1)
    y = randn((2, 4), torch.float32, 2)
    v = randn((3,), torch.float32, 3)
    return [
        case("cat_size_mismatch", "x: f32[N, C]; y: f32[N, D]", "c = cat([x, y])", "c",
             [x, y], lambda x, y: torch.cat([x, y])),
        case("cat_rank_mismatch", "x: f32[N, C]; v: f32[M]", "c = cat([x, v])", "c",
             [x, v], lambda x, v: torch.cat([x, v])),
        case("stack_size_mismatch", "x: f32[N, C]; y: f32[N, D]", "s = stack([x, y])", "s",
             [x, y], lambda x, y: torch.stack([x, y])),
        case("narrow_past_end", "x: f32[N, C]", "n = narrow(x, 1, 2, 2)", "n",
             [x], lambda x: torch.narrow(x, 1, 2, 2)),
        case("select_out_of_range", "x: f32[N, C]", "s = select(x, 0, -3)", "s",
             [x], lambda x: torch.select(x, 0, -3)),
        case("reflect_pad_too_large", "x: f32[N, C]", 'p = pad(x, [3, 0], mode="reflect")', "p",
             [x], lambda x: F.pad(x, [3, 0], mode="reflect")),
        case("pad_negative_size", "x: f32[N, C]", "p = pad(x, [-2, -2])", "p",
             [x], lambda x: F.pad(x, [-2, -2])),
        case("split_sections_sum", "v: f32[N]", "a, b = split(v, [1, 1])", "a, b",
             [v], lambda v: torch.split(v, [1, 1])),
        case("split_too_many_names", "v: f32[N]", "a, b, c = split(v, 2)", "a, b, c",
             [v], lambda v: unpack(torch.split(v, 2), 3)),
        case("split_size_zero", "v: f32[N]", "a = split(v, 0)", "a",
             [v], lambda v: torch.split(v, 0)),
        case("repeat_too_few", "x: f32[N, C]", "r = repeat(x, [2])", "r",
             [x], lambda x: x.repeat(2)),
        case("pad_odd_length", "x: f32[N, C]", "p = pad(x, [1, 2, 3])", "p",
             [x], lambda x: F.pad(x, [1, 2, 3])),
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = value_cases() + error_cases()
    doc = {
        "generator": "scripts/torch_fixtures_movement.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cases],
    }
    path = OUT / "movement.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
