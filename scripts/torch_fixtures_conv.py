#!/usr/bin/env python3
"""Writes PyTorch's conv1d / conv2d / conv_transpose2d answers to
tests/fixtures/torch/conv.json (read by tests/conv_torch.rs, which needs no Python).

Most inputs are small integers, so every sum is exact in each dtype and kiln must match
PyTorch bit for bit (ulps 0) whatever order either sums in (an ulp bound on random values
fails on cancellation near 0; tests/conv_model.rs compares random weights with a relative bound).
Symbolic N/H/W in the graphs run under every dynamic policy. Rerun after adding a case:

    python3 scripts/torch_fixtures_conv.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_fixtures import OUT, Case, encode, gen, graph  # noqa: E402

F32, F64, F16, BF16 = torch.float32, torch.float64, torch.float16, torch.bfloat16
NAME = {F32: "f32", F64: "f64", F16: "f16", BF16: "bf16"}


def ints(shape, dtype, seed, lo=-3, hi=4):
    return torch.randint(lo, hi, shape, generator=gen(seed), dtype=torch.int64).to(dtype)


def conv_case(name, call, xs, ws, fn, dtype=F32, bias=None, seed=0, xdecl=None):
    """A case `y = call` over inputs x (shape xs, declared `xdecl`), w and optionally b."""
    d = NAME[dtype]
    make = ints
    inputs = [make(xs, dtype, seed), make(ws, dtype, seed + 1)]
    decls = f"x: {d}[{xdecl or ', '.join(map(str, xs))}]; w: {d}[{', '.join(map(str, ws))}]"
    if bias is not None:
        inputs.append(make((bias,), dtype, seed + 2))
        decls += f"; b: {d}[{bias}]"
    return Case(name, "issue 16", graph(name, decls, f"y = {call}", "y"), inputs, fn)


def cases() -> list[Case]:
    c = []
    c.append(conv_case(
        "conv2d_3x3_pad1_bias_symbolic", "conv2d(x, w, b, padding=1)", (2, 3, 7, 6),
        (4, 3, 3, 3), lambda x, w, b: F.conv2d(x, w, b, padding=1), bias=4,
        xdecl="N, 3, H, W"))
    c.append(conv_case(
        "conv2d_stride2_dilation2_groups2_f64",
        "conv2d(x, w, stride=[2, 1], padding=[1, 2], dilation=2, groups=2)", (1, 4, 9, 8),
        (6, 2, 3, 2), lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=2,
                                            groups=2), dtype=F64, xdecl="N, 4, H, W"))
    c.append(conv_case(
        "conv2d_same_even_kernel", "conv2d(x, w, padding=\"same\")", (1, 2, 6, 5),
        (3, 2, 4, 2), lambda x, w: F.conv2d(x, w, padding="same"), xdecl="N, 2, H, W"))
    c.append(conv_case(
        "conv2d_same_dilated", "conv2d(x, w, padding=\"same\", dilation=[1, 3])",
        (2, 2, 5, 7), (2, 2, 2, 3),
        lambda x, w: F.conv2d(x, w, padding="same", dilation=(1, 3))))
    c.append(conv_case(
        "conv2d_valid", "conv2d(x, w, padding=\"valid\")", (1, 1, 4, 4), (1, 1, 2, 3),
        lambda x, w: F.conv2d(x, w, padding="valid")))
    c.append(conv_case(
        "conv2d_depthwise_multiplier2", "conv2d(x, w, b, stride=2, padding=1, groups=3)",
        (2, 3, 7, 7), (6, 1, 3, 3),
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=3), bias=6,
        xdecl="N, 3, H, W"))
    c.append(conv_case(
        "conv2d_1x1_pointwise", "conv2d(x, w)", (3, 5, 4, 3), (7, 5, 1, 1),
        lambda x, w: F.conv2d(x, w), xdecl="N, 5, H, W"))
    c.append(conv_case(
        "conv2d_unbatched", "conv2d(x, w, b, padding=1)", (2, 5, 5), (3, 2, 3, 3),
        lambda x, w, b: F.conv2d(x, w, b, padding=1), bias=3))
    c.append(conv_case(
        "conv2d_empty_batch", "conv2d(x, w, padding=1)", (0, 2, 4, 4), (3, 2, 3, 3),
        lambda x, w: F.conv2d(x, w, padding=1)))
    c.append(conv_case(
        "conv1d_same_even_kernel_bias", "conv1d(x, w, b, padding=\"same\")", (2, 3, 9),
        (4, 3, 4), lambda x, w, b: F.conv1d(x, w, b, padding="same"), bias=4,
        xdecl="N, 3, L"))
    c.append(conv_case(
        "conv1d_stride_groups", "conv1d(x, w, stride=3, padding=2, groups=2)", (1, 4, 11),
        (2, 2, 3), lambda x, w: F.conv1d(x, w, stride=3, padding=2, groups=2)))
    c.append(conv_case(
        "conv_transpose2d_full", "conv_transpose2d(x, w, b, stride=2, padding=1, "
        "output_padding=1, groups=2, dilation=2)", (2, 4, 3, 4), (4, 3, 3, 2),
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                           groups=2, dilation=2), bias=6,
        xdecl="N, 4, H, W"))
    c.append(conv_case(
        "conv_transpose2d_unbatched", "conv_transpose2d(x, w, stride=[1, 3])", (2, 3, 3),
        (2, 1, 2, 2), lambda x, w: F.conv_transpose2d(x, w, stride=(1, 3))))
    for dtype in (F16, BF16):
        c.append(conv_case(
            f"conv2d_{NAME[dtype]}_exact", "conv2d(x, w, padding=1)", (1, 3, 5, 5),
            (2, 3, 3, 3), lambda x, w: F.conv2d(x, w, padding=1), dtype=dtype))
    # Refusals: PyTorch raises on each.
    c.append(conv_case(
        "conv2d_channel_mismatch", "conv2d(x, w)", (1, 3, 5, 5), (4, 4, 3, 3),
        lambda x, w: F.conv2d(x, w)))
    c.append(conv_case(
        "conv2d_groups_do_not_divide", "conv2d(x, w, groups=2)", (1, 4, 5, 5), (3, 2, 3, 3),
        lambda x, w: F.conv2d(x, w, groups=2)))
    c.append(conv_case(
        "conv2d_kernel_larger_than_input", "conv2d(x, w)", (1, 1, 2, 5), (1, 1, 3, 3),
        lambda x, w: F.conv2d(x, w)))
    c.append(conv_case(
        "conv2d_same_strided", "conv2d(x, w, stride=2, padding=\"same\")", (1, 1, 5, 5),
        (1, 1, 3, 3), lambda x, w: F.conv2d(x, w, stride=2, padding="same")))
    c.append(conv_case(
        "conv_transpose2d_output_padding_too_large",
        "conv_transpose2d(x, w, stride=2, output_padding=2)", (1, 1, 3, 3), (1, 1, 3, 3),
        lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=2)))
    c.append(conv_case(
        "conv2d_dtype_mismatch", "conv2d(x, w)", (1, 1, 3, 3), (1, 1, 3, 3),
        lambda x, w: F.conv2d(x, w.double())))
    return c




def model_values(n: int, seed: int) -> torch.Tensor:
    """tests/conv_model.rs's inputs: ((i * 7919 + seed * 104729) % 2001) / 1000 - 1, in f64."""
    i = torch.arange(n, dtype=torch.int64)
    return ((i * 7919 + seed * 104729) % 2001).to(torch.float64) / 1000.0 - 1.0


def write_model() -> None:
    """The seed's test_cache_load_model: two conv2d(k=3, stride=2, bias=False), 3 -> 512 ->
    512 channels, on (2, 3, 16, 16); PyTorch's outputs in f32 and f64 (the inputs are
    generated by formula on both sides, so the fixture holds only the outputs)."""
    doc = {"generator": "scripts/torch_fixtures_conv.py", "torch": torch.__version__}
    for dtype in (F32, F64):
        x = model_values(2 * 3 * 16 * 16, 1).reshape(2, 3, 16, 16).to(dtype)
        w1 = model_values(512 * 3 * 9, 2).reshape(512, 3, 3, 3).to(dtype) / 4
        w2 = model_values(512 * 512 * 9, 3).reshape(512, 512, 3, 3).to(dtype) / 64
        y = F.conv2d(F.conv2d(x, w1, stride=2), w2, stride=2)
        doc[NAME[dtype]] = encode(y)
    path = OUT / "conv_model.json"
    path.write_text(json.dumps(doc) + "\n")
    print(f"{path}: outputs {list(y.shape)}")


def main() -> None:
    cs = cases()
    # The dtype-mismatch case declares w as f64 (PyTorch sees the same pair of dtypes).
    bad = cs[-1]
    bad.inputs[1] = bad.inputs[1].double()
    bad.graph = bad.graph.replace("w: f32", "w: f64")
    doc = {
        "generator": "scripts/torch_fixtures_conv.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cs],
    }
    path = OUT / "conv.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cs)} cases")
    write_model()


if __name__ == "__main__":
    main()
