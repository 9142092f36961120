#!/usr/bin/env python3
"""Writes PyTorch's loss curve for the two-spirals MLP of examples/train.rs to
tests/fixtures/torch/train_mlp.json: the data, the initial weights (nn.Linear's default init
under torch.manual_seed(0)) and the loss of every SGD step, so that tests/train_curve.rs can
replay the same training through kiln and compare, with no Python at test time.

The model, data and schedule are kiln_suite::train's (src/train.rs), which the example and
the test use:
- data: two interleaved spirals, spiral point j has class j % 2 and index i = j // 2 (a formula, no randomness):
  r = 0.1 + 0.9 * i / (P - 1), theta = 3 * pi * i / (P - 1) + pi * class, (r cos, r sin);
- model: linear(2, H) -> tanh -> linear(H, H) -> tanh -> linear(H, 2);
- loss: cross entropy, i.e. -mean(sum(log_softmax(z, 1) * one_hot, 1));
- SGD with momentum (PyTorch's: buf = momentum * buf + g, p -= lr * buf), batches taken in
  order (step s uses points [32 * (s % 8), 32 * (s % 8) + 32)).
Everything in float32, as kiln trains. Rerun after changing any of the constants below
(they must match src/train.rs):

    python3 scripts/train_reference.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

POINTS_PER_CLASS = 128
HIDDEN = 64
BATCH = 32
STEPS = 300
LR = 0.3
MOMENTUM = 0.9
# Point k of the data set is spiral point (k * STRIDE) % 256: a fixed shuffle (STRIDE is odd,
# so coprime with 256), so that every batch of 32 spans both spirals from centre to rim.
STRIDE = 101
OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/torch/train_mlp.json"


def spirals() -> tuple[torch.Tensor, torch.Tensor]:
    xs, labels = [], []
    p = POINTS_PER_CLASS
    for k in range(2 * p):
        j = (k * STRIDE) % (2 * p)
        c, i = j % 2, j // 2
        r = 0.1 + 0.9 * i / (p - 1)
        theta = 3.0 * math.pi * i / (p - 1) + math.pi * c
        xs.append([r * math.cos(theta), r * math.sin(theta)])
        labels.append(c)
    return torch.tensor(xs, dtype=torch.float64).float(), torch.tensor(labels)


def main() -> None:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(2, HIDDEN), torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.Linear(HIDDEN, 2)]
    params = {}
    for n, layer in enumerate(layers, start=1):
        params[f"w{n}"] = layer.weight
        params[f"b{n}"] = layer.bias
    init = {k: {"shape": list(v.shape), "values": v.detach().flatten().tolist()} for k, v in params.items()}
    x, labels = spirals()
    opt = torch.optim.SGD([params[k] for k in params], lr=LR, momentum=MOMENTUM)
    batches = x.shape[0] // BATCH
    losses = []
    for step in range(STEPS):
        lo = BATCH * (step % batches)
        h = x[lo : lo + BATCH]
        for n, layer in enumerate(layers):
            h = layer(h)
            if n + 1 < len(layers):
                h = torch.tanh(h)
        loss = F.cross_entropy(h, labels[lo : lo + BATCH])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    fixture = {
        "torch": torch.__version__,
        "points_per_class": POINTS_PER_CLASS,
        "hidden": HIDDEN,
        "batch": BATCH,
        "steps": STEPS,
        "lr": LR,
        "momentum": MOMENTUM,
        "x": x.flatten().tolist(),
        "labels": labels.tolist(),
        "params": init,
        "loss": losses,
    }
    OUT.write_text(json.dumps(fixture) + "\n")
    print(f"wrote {OUT}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {STEPS} steps")


if __name__ == "__main__":
    main()
