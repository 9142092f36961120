#!/usr/bin/env python3
"""Writes PyTorch autograd's gradients of conv1d / conv2d to tests/fixtures/torch/conv_grad.json
(read by tests/torch_fixtures.rs, which needs no Python).

Each case is a graph with inputs x, w and grad_output gy and two outputs:
`convolution_backward_input(gy, w, x, ...)` and `convolution_backward_weight(gy, x, w, ...)`;
PyTorch's answer is `x.grad` and `w.grad` after `conv(x, w).backward(gy)` (asymmetric padding
as `F.pad` before an unpadded conv, which is what PyTorch's `padding="same"` does for an even
kernel). Values are small integers, so every sum is exact and kiln must match bit for bit.
tests/fixtures/torch/conv_grad_model.json holds whole backward graphs (tests/conv_grad.rs
builds them with kiln_grad::grad of `sum(y * y)` and compiles them once for two shapes) with
torch's gradients. Rerun after adding a case:

    python3 scripts/torch_fixtures_conv_grad.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_fixtures import OUT, Case, encode, gen, graph  # noqa: E402

F32, F64 = torch.float32, torch.float64
NAME = {F32: "f32", F64: "f64"}


def ints(shape, dtype, seed, lo=-3, hi=4):
    return torch.randint(lo, hi, shape, generator=gen(seed), dtype=torch.int64).to(dtype)


def out_size(n, k, s, pad, d):
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def same_padding(k, d):
    """PyTorch's padding="same": the dilated extent minus one, the odd element after."""
    total = d * (k - 1)
    return (total // 2, total - total // 2)


def torch_grads(x, w, gy, stride, padding, dilation, groups):
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    flat = []
    for lo, hi in reversed(padding):
        flat += [lo, hi]
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    y = conv(F.pad(x, flat), w, stride=stride, dilation=dilation, groups=groups)
    y.backward(gy)
    return x.grad, w.grad


def grad_case(name, xs, ws, stride, padding, dilation=None, groups=1, dtype=F32, seed=0,
              xdecl=None, gydecl=None):
    spatial = len(xs) - 2
    dilation = dilation or [1] * spatial
    ys = [xs[0], ws[0]] + [
        out_size(xs[2 + i], ws[2 + i], stride[i], padding[i], dilation[i])
        for i in range(spatial)
    ]
    d = NAME[dtype]
    x, w, gy = ints(xs, dtype, seed), ints(ws, dtype, seed + 1), ints(ys, dtype, seed + 2)
    shape = lambda s: ", ".join(map(str, s))  # noqa: E731
    decls = (f"x: {d}[{xdecl or shape(xs)}]; w: {d}[{shape(ws)}]; "
             f"gy: {d}[{gydecl or shape(ys)}]")
    flat = [v for p in padding for v in p]
    kw = f"stride={list(stride)}, padding={flat}, dilation={list(dilation)}, groups={groups}"
    body = (f"gx = convolution_backward_input(gy, w, x, {kw}); "
            f"gw = convolution_backward_weight(gy, x, w, {kw})")
    fn = lambda x, w, gy: torch_grads(x, w, gy, stride, padding, dilation, groups)  # noqa: E731
    return Case(name, "issue 17", graph(name, decls, body, "gx, gw"), [x, w, gy], fn)


def cases() -> list[Case]:
    c = []
    c.append(grad_case("conv2d_3x3_pad1", (1, 3, 5, 6), (4, 3, 3, 3), [1, 1], [(1, 1)] * 2))
    c.append(grad_case("conv2d_stride2_odd_drops_a_row", (3, 2, 7, 8), (3, 2, 3, 3), [2, 2],
                       [(0, 0)] * 2, seed=3))
    c.append(grad_case("conv2d_stride2_pad1_batch3_f64", (3, 4, 9, 6), (2, 4, 3, 2), [2, 2],
                       [(1, 1), (1, 1)], dtype=F64, seed=5))
    c.append(grad_case("conv2d_same_even_kernel", (1, 2, 6, 5), (3, 2, 4, 2), [1, 1],
                       [same_padding(4, 1), same_padding(2, 1)], seed=7))
    c.append(grad_case("conv2d_same_dilated2", (2, 2, 7, 7), (2, 2, 2, 3), [1, 1],
                       [same_padding(2, 2), same_padding(3, 2)], dilation=[2, 2], seed=9))
    c.append(grad_case("conv2d_dilation2_stride_2_1", (1, 2, 9, 8), (2, 2, 3, 2), [2, 1],
                       [(1, 1), (2, 2)], dilation=[2, 2], seed=11))
    c.append(grad_case("conv2d_groups2", (3, 4, 5, 5), (6, 2, 3, 3), [1, 1], [(1, 1)] * 2,
                       groups=2, seed=13))
    c.append(grad_case("conv2d_depthwise", (3, 3, 7, 6), (3, 1, 3, 3), [1, 1], [(1, 1)] * 2,
                       groups=3, seed=15))
    c.append(grad_case("conv2d_depthwise_multiplier2_stride2", (1, 3, 8, 7), (6, 1, 3, 3),
                       [2, 2], [(1, 1)] * 2, groups=3, seed=17))
    c.append(grad_case("conv2d_1x1", (3, 5, 4, 3), (7, 5, 1, 1), [1, 1], [(0, 0)] * 2,
                       seed=19))
    c.append(grad_case("conv1d_k3_pad1", (3, 3, 9), (4, 3, 3), [1], [(1, 1)], seed=21))
    c.append(grad_case("conv1d_stride3_groups2_odd", (1, 4, 11), (2, 2, 3), [3], [(2, 2)],
                       groups=2, seed=23))
    c.append(grad_case("conv1d_same_even_dilated_f64", (2, 2, 10), (3, 2, 4), [1],
                       [same_padding(4, 2)], dilation=[2], dtype=F64, seed=25))
    c.append(grad_case("conv2d_symbolic_n_h_w", (3, 3, 7, 6), (4, 3, 3, 3), [2, 2],
                       [(1, 1)] * 2, seed=27, xdecl="N, 3, H, W", gydecl="N, 4, P, Q"))
    return c


def model_cases():
    """Whole backward graphs (kiln_grad::grad of `sum(y * y)`), each run on two shapes: the
    forward text, the inputs to differentiate, and per run the inputs and torch's grads."""
    f32 = "f32"
    specs = [
        ("conv2d_bias_stride2", f"x: {f32}[N, 3, H, W]; w: {f32}[4, 3, 3, 3]; b: {f32}[4]",
         "y = conv2d(x, w, b, stride=2, padding=1)", ["x", "w", "b"],
         [[(2, 3, 7, 8), (4, 3, 3, 3), (4,)], [(3, 3, 8, 5), (4, 3, 3, 3), (4,)]],
         lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), F32),
        ("conv1d_same_even_groups2_f64", "x: f64[N, 4, L]; w: f64[6, 2, 4]",
         'y = conv1d(x, w, padding="same", groups=2)', ["x", "w"],
         [[(2, 4, 9), (6, 2, 4)], [(3, 4, 12), (6, 2, 4)]],
         lambda x, w: F.conv1d(x, w, padding="same", groups=2), F64),
        ("conv2d_depthwise_stride2", f"x: {f32}[N, 3, H, W]; w: {f32}[3, 1, 3, 3]",
         "y = conv2d(x, w, stride=2, padding=1, groups=3)", ["x", "w"],
         [[(2, 3, 9, 6), (3, 1, 3, 3)], [(4, 3, 6, 9), (3, 1, 3, 3)]],
         lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=3), F32),
        ("conv_transpose2d_full", f"x: {f32}[N, 4, H, W]; w: {f32}[4, 3, 3, 2]",
         "y = conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2, "
         "dilation=2)", ["x", "w"],
         [[(2, 4, 3, 4), (4, 3, 3, 2)], [(3, 4, 4, 3), (4, 3, 3, 2)]],
         lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1,
                                         groups=2, dilation=2), F32),
    ]
    out = []
    for i, (name, decls, body, wrt, runs, fn, dtype) in enumerate(specs):
        doc = {"name": name, "graph": graph(name, decls, body + "; z = mul(y, y)", "z"),
               "wrt": wrt, "runs": []}
        for j, shapes in enumerate(runs):
            inputs = [ints(s, dtype, 100 * i + 10 * j + k, -2, 3)
                      for k, s in enumerate(shapes)]
            leaves = [t.clone().requires_grad_(True) for t in inputs]
            y = fn(*leaves)
            (y * y).sum().backward()
            doc["runs"].append({"inputs": [encode(t) for t in inputs],
                                "grads": [encode(t.grad) for t in leaves]})
        out.append(doc)
    return out


def main() -> None:
    models = {"generator": "scripts/torch_fixtures_conv_grad.py", "torch": torch.__version__,
              "cases": model_cases()}
    mpath = OUT / "conv_grad_model.json"
    mpath.write_text(json.dumps(models, indent=1) + "\n")
    print(f"{mpath}: {len(models['cases'])} models")
    cs = cases()
    doc = {
        "generator": "scripts/torch_fixtures_conv_grad.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cs],
    }
    path = OUT / "conv_grad.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cs)} cases")


if __name__ == "__main__":
    main()
