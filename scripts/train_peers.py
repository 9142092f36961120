#!/usr/bin/env python3
"""Times PyTorch on the training step of examples/train_bench.rs: the two-spirals MLP of
kiln_suite::train (2-64-64-2, tanh, cross entropy, SGD lr 0.3 momentum 0.9), batch 32, f32.

One JSON line per case, with the `case` names the bench uses, so that

    python3 scripts/train_peers.py > /tmp/train_peers.jsonl
    cargo run --release --example train_bench -- --json --peers /tmp/train_peers.jsonl

compares kiln's step with PyTorch's measured minutes before:
- `step_eager`: forward, loss, backward, `opt.step()`, `opt.zero_grad()` in eager mode;
- `step_compile`: the same with forward + loss through `torch.compile` (AOTAutograd compiles
  its forward and backward with Inductor) and `opt.step` through `torch.compile` as well
  (PyTorch's recipe for compiled optimizers); `compile_s` is the first call's time (cold);
- `grad_eager`: forward, loss and backward only (kiln's `grad_joint` and `grad_split`);
- `cnn_step_eager`, `cnn_step_compile`: the same two steps for the bench's small CNN
  (conv2d 3->8 k3 p1, batch_norm in training mode without running stats, relu, max_pool2d 2,
  linear 512->10; input 3x16x16, batch 32).
`us` is the median microseconds per step over the timed runs, `best_us` the best.
"""

from __future__ import annotations

import json
import statistics
import time

import torch
import torch.nn.functional as F

HIDDEN = 64
BATCH = 32
LR = 0.3
MOMENTUM = 0.9
BUDGET_S = 2.0
MIN_RUNS = 50


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Linear(HIDDEN, 2),
    )


def cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8, track_running_stats=False),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(512, 10),
    )


def timed(step) -> tuple[float, float]:
    for _ in range(10):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < MIN_RUNS or time.perf_counter() - start < BUDGET_S:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6, min(times) * 1e6


def row(case: str, us: float, best: float, **extra) -> None:
    print(json.dumps({"case": case, "system": f"torch {torch.__version__}", "us": round(us, 1),
                      "best_us": round(best, 1), **extra}), flush=True)


def steps(prefix: str, make, x: torch.Tensor, labels: torch.Tensor) -> None:
    m = make()
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM)

    def eager_step():
        loss = F.cross_entropy(m(x), labels)
        loss.backward()
        opt.step()
        opt.zero_grad()

    row(f"{prefix}step_eager", *timed(eager_step))
    if prefix == "":
        def grad_step():
            loss = F.cross_entropy(m(x), labels)
            loss.backward()
            m.zero_grad()

        row("grad_eager", *timed(grad_step))

    mc = make()
    optc = torch.optim.SGD(mc.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.compile(lambda x, labels: F.cross_entropy(mc(x), labels))
    opt_step = torch.compile(optc.step)

    def compiled_step():
        loss = loss_fn(x, labels)
        loss.backward()
        opt_step()
        optc.zero_grad()

    t = time.perf_counter()
    compiled_step()
    compiled_step()  # the optimizer's state exists from the first step on: a second compile
    compile_s = time.perf_counter() - t
    row(f"{prefix}step_compile", *timed(compiled_step), compile_s=round(compile_s, 2))


def main() -> None:
    x = torch.rand(BATCH, 2) * 2 - 1
    labels = torch.arange(BATCH) % 2
    steps("", model, x, labels)
    steps("cnn_", cnn, torch.rand(BATCH, 3, 16, 16), torch.arange(BATCH) % 10)


if __name__ == "__main__":
    main()
