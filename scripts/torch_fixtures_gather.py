#!/usr/bin/env python3
"""Writes PyTorch's answers for kiln's gather ops to tests/fixtures/torch/gather.json.

`cases`: forward values of index_select, gather, scatter_add, index_add and embedding
(tests/torch_fixtures.rs runs them through every policy, as the other fixture files), and
out-of-range indices that torch refuses. `models`: backward graphs (tests/gather_grad.rs builds
them with kiln::grad of `sum(z)` and compiles one dynamic entry for both runs) with torch
autograd's gradients. Values are small integers so every sum is exact. Rerun after adding a
case:

    python3 scripts/torch_fixtures_gather.py
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F

import torch_fixtures as tf
from torch_fixtures import Case, gen, graph

tf.DTYPES["i64"] = torch.int64
tf.NAMES[torch.int64] = "i64"

F32, F64 = torch.float32, torch.float64


def ints(shape, dtype, seed, lo=-3, hi=4):
    return torch.randint(lo, hi, shape, generator=gen(seed), dtype=torch.int64).to(dtype)


def idx(shape, size, seed):
    return torch.randint(0, size, shape, generator=gen(seed), dtype=torch.int64)


def cases() -> list[Case]:
    x = ints((4, 5, 3), F32, 1)
    return [
        Case("index_select_every_dim", "issue 16",
             graph("s", "x: f32[N, 5, 3]; i: i64[K]",
                   "a = index_select(x, 1, i); b = index_select(x, 0, i); "
                   "c = index_select(x, -1, i)", "a, b, c"),
             [x, torch.tensor([2, 0, 2, 1])],
             lambda x, i: (x.index_select(1, i), x.index_select(0, i), x.index_select(-1, i))),
        Case("gather_smaller_index", "issue 16",
             graph("g", "x: f32[N, 5, 3]; j: i64[N, 7, 2]", "a = gather(x, 1, j)", "a"),
             [x, idx((4, 7, 2), 5, 2)], lambda x, j: torch.gather(x, 1, j)),
        Case("scatter_add_repeats_f64", "issue 16",
             graph("sa", "x: f64[N, 4]; j: i64[N, 6]; s: f64[N, 6]",
                   "a = scatter_add(x, 1, j, s)", "a"),
             [ints((3, 4), F64, 3), idx((3, 6), 4, 4), ints((3, 6), F64, 5)],
             lambda x, j, s: x.scatter_add(1, j, s)),
        Case("index_add_alpha", "issue 16",
             graph("ia", "x: f32[6, N]; i: i64[4]; t: f32[4, N]",
                   "a = index_add(x, 0, i, t, alpha=3)", "a"),
             [ints((6, 3), F32, 6), torch.tensor([5, 0, 5, 2]), ints((4, 3), F32, 7)],
             lambda x, i, t: x.index_add(0, i, t, alpha=3)),
        Case("embedding_2d_indices", "issue 16",
             graph("e", "ids: i64[N, L]; w: f32[7, 4]",
                   "a = embedding(ids, w, padding_idx=1)", "a"),
             [idx((2, 3), 7, 8), ints((7, 4), F32, 9)],
             lambda ids, w: F.embedding(ids, w, padding_idx=1)),
        Case("index_select_out_of_range", "issue 16",
             graph("bad", "x: f32[3, 2]; i: i64[2]", "a = index_select(x, 0, i)", "a"),
             [ints((3, 2), F32, 10), torch.tensor([0, 3])],
             lambda x, i: x.index_select(0, i)),
        Case("gather_negative_index", "issue 16",
             graph("neg", "x: f32[3, 2]; j: i64[3, 1]", "a = gather(x, 1, j)", "a"),
             [ints((3, 2), F32, 11), torch.tensor([[0], [-1], [1]])],
             lambda x, j: torch.gather(x, 1, j)),
        Case("embedding_out_of_range", "issue 16",
             graph("ebad", "ids: i64[2]; w: f32[3, 2]", "a = embedding(ids, w)", "a"),
             [torch.tensor([1, 5]), ints((3, 2), F32, 12)],
             lambda ids, w: F.embedding(ids, w)),
    ]


def models():
    """Backward graphs: the forward text, the inputs to differentiate, and per run the
    inputs and torch's gradients of `sum(z)`."""
    specs = [
        ("index_select_grad", "x: f32[N, 5]; i: i64[K]; c: f32[N, K]",
         "y = index_select(x, 1, i); z = mul(y, c)", ["x", "c"],
         [[((3, 5), F32), ("i", 5, (6,)), ((3, 6), F32)],
          [((2, 5), F32), ("i", 5, (4,)), ((2, 4), F32)]],
         lambda x, i, c: x.index_select(1, i) * c),
        ("gather_grad_f64", "x: f64[N, 4, 3]; j: i64[N, 6, 3]; c: f64[N, 6, 3]",
         "y = gather(x, 1, j); z = mul(y, c)", ["x", "c"],
         [[((2, 4, 3), F64), ("i", 4, (2, 6, 3)), ((2, 6, 3), F64)],
          [((3, 4, 3), F64), ("i", 4, (3, 6, 3)), ((3, 6, 3), F64)]],
         lambda x, j, c: torch.gather(x, 1, j) * c),
        ("scatter_add_grad", "x: f32[N, 4]; j: i64[N, 4]; s: f32[N, 4]; c: f32[N, 4]",
         "y = scatter_add(x, 1, j, s); z = mul(y, c)", ["x", "s"],
         [[((3, 4), F32), ("i", 4, (3, 4)), ((3, 4), F32), ((3, 4), F32)],
          [((5, 4), F32), ("i", 4, (5, 4)), ((5, 4), F32), ((5, 4), F32)]],
         lambda x, j, s, c: x.scatter_add(1, j, s) * c),
        ("index_add_grad_alpha", "x: f32[5, N]; i: i64[3]; t: f32[3, N]; c: f32[5, N]",
         "y = index_add(x, 0, i, t, alpha=-2); z = mul(y, c)", ["x", "t"],
         [[((5, 2), F32), ("i", 5, (3,)), ((3, 2), F32), ((5, 2), F32)],
          [((5, 4), F32), ("i", 5, (3,)), ((3, 4), F32), ((5, 4), F32)]],
         lambda x, i, t, c: x.index_add(0, i, t, alpha=-2) * c),
        ("embedding_padding_grad", "ids: i64[N, L]; w: f32[6, 3]; c: f32[N, L, 3]",
         "y = embedding(ids, w, padding_idx=-2); z = mul(y, c)", ["w"],
         [[("i", 6, (2, 5)), ((6, 3), F32), ((2, 5, 3), F32)],
          [("i", 6, (3, 2)), ((6, 3), F32), ((3, 2, 3), F32)]],
         lambda ids, w, c: F.embedding(ids, w, padding_idx=-2) * c),
    ]
    out = []
    for n, (name, decls, body, wrt, runs, fn) in enumerate(specs):
        names = [d.split(":")[0].strip() for d in decls.split(";")]
        doc = {"name": name, "graph": graph(name, decls, body, "z"), "wrt": wrt, "runs": []}
        for r, run in enumerate(runs):
            inputs = []
            for k, spec in enumerate(run):
                seed = 100 * n + 10 * r + k
                if spec[0] == "i":
                    t = idx(spec[2], spec[1], seed)
                    if name.startswith("embedding"):
                        t.view(-1)[0] = 4  # the padding row (-2 of 6) appears
                    inputs.append(t)
                else:
                    inputs.append(ints(spec[0], spec[1], seed))
            leaves = [t.clone().requires_grad_(nm in wrt) if t.is_floating_point() else t
                      for t, nm in zip(inputs, names)]
            fn(*leaves).sum().backward()
            grads = [leaves[names.index(w)].grad for w in wrt]
            doc["runs"].append({"inputs": [tf.encode(t) for t in inputs],
                                "grads": [tf.encode(g) for g in grads]})
        out.append(doc)
    return out


def main() -> None:
    cs = cases()
    doc = {
        "generator": "scripts/torch_fixtures_gather.py",
        "torch": torch.__version__,
        "cases": [c.render() for c in cs],
        "models": models(),
    }
    path = tf.OUT / "gather.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path}: {len(cs)} cases, {len(doc['models'])} models")


if __name__ == "__main__":
    main()
