"""A whole training step through ``backend="kiln"``: a conv-bn-relu-pool-linear CNN in training
mode (batch statistics, running-stat updates, max pool with indices), its forward and backward
graphs compiled by kiln with nothing left to eager PyTorch, gradients and running statistics
equal to eager's, and SGD steps that follow eager's."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

import kiln.torch  # noqa: E402
from kiln import _fx  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()


def small_cnn(batch_norm: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm2d(8) if batch_norm else torch.nn.Identity()
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        norm,
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
    )


def loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(model(x), y)


def summed_loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # With a dynamic batch, a mean (and batch_norm's backward) divides by a SymInt, which the
    # graph computes outside its tensors; kiln does not take SymInt arithmetic yet (it runs
    # eagerly), so the dynamic case sums its loss and has no batch_norm.
    return torch.nn.functional.cross_entropy(model(x), y, reduction="sum") / 4.0


@pytest.mark.parametrize("dynamic", [False, True])
def test_training_step_runs_in_kiln_and_matches_eager(dynamic: bool, cache_dir: Path) -> None:
    _fx.FALLBACK_OPS.clear()
    eager, compiled_model = small_cnn(not dynamic), small_cnn(not dynamic)
    fn = summed_loss_fn if dynamic else loss_fn
    step = torch.compile(fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)), dynamic=dynamic)
    opt_e = torch.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    opt_k = torch.optim.SGD(compiled_model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = torch.randn(4, 3, 8, 8, generator=g)
        y = torch.randint(0, 10, (4,), generator=g)
        for model, opt, call in ((eager, opt_e, fn), (compiled_model, opt_k, step)):
            opt.zero_grad()
            loss = call(model, x, y)
            loss.backward()
            opt.step()
        for pe, pk in zip(eager.parameters(), compiled_model.parameters()):
            torch.testing.assert_close(pk.grad, pe.grad, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(pk, pe, rtol=1e-4, atol=1e-5)
    if not dynamic:
        bn_e, bn_k = eager[1], compiled_model[1]
        torch.testing.assert_close(bn_k.running_mean, bn_e.running_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(bn_k.running_var, bn_e.running_var, rtol=1e-4, atol=1e-5)
    # Only bookkeeping may run eagerly (tuple indexing, aliases, SymInt arithmetic on sizes:
    # Python operators such as `mul`, and `sym_size`); every tensor op ran in kiln.
    bookkeeping = {"getitem", "alias.default", "sym_size.int"}
    compute = {o for o in _fx.FALLBACK_OPS if "." in o and o not in bookkeeping}
    assert not compute, f"ran eagerly: {sorted(compute)}"
