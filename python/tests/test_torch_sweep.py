"""``backend="kiln"`` against eager PyTorch: op families, models, and a training step, under
``dynamic=False`` and ``dynamic=True``. Ops kiln does not compile fall back to eager, so these
tests check correctness end to end; ``test_kiln_compiled_it`` checks that kiln, not the
fallback, ran the ops it claims."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from models import MobileNetLike, ResNet18, SmallCNN  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402

import kiln.torch  # noqa: E402

F = torch.nn.functional


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()
    counters.clear()


def check(fn: Callable, args: tuple, cache_dir: Path, dynamic: bool, tol: float = 1e-5) -> None:
    compiled = torch.compile(
        fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)), dynamic=dynamic
    )
    torch.testing.assert_close(compiled(*args), fn(*args), rtol=tol, atol=tol)


CASES = {
    "elementwise": (
        lambda x, y: torch.sigmoid(torch.relu(x * y + 1.0)) * 2 - 1,
        lambda: (torch.randn(4, 7), torch.randn(4, 7)),
    ),
    "broadcast_where": (
        lambda x, y: torch.where(x > 0, x, y.exp()),
        lambda: (torch.randn(3, 5), torch.randn(5)),
    ),
    "reductions": (
        lambda x: (x.sum(1), x.mean((0, 2), keepdim=True), x.amax(-1)),
        lambda: (torch.randn(3, 4, 5),),
    ),
    "softmax": (
        lambda x: (torch.softmax(x, -1), torch.log_softmax(x, 1)),
        lambda: (torch.randn(4, 9),),
    ),
    "pooling": (
        lambda x: (F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 2), F.adaptive_avg_pool2d(x, (3, 2))),
        lambda: (torch.randn(2, 3, 9, 8),),
    ),
    "layout": (
        lambda x: x.permute(2, 0, 1).reshape(5, -1).t() * 2,
        lambda: (torch.randn(3, 4, 5),),
    ),
    "matmul": (
        lambda a, b, w: (a @ b, F.linear(a, w, torch.ones(6))),
        lambda: (torch.randn(5, 4), torch.randn(4, 3), torch.randn(6, 4)),
    ),
    "bmm": (lambda a, b: torch.bmm(a, b), lambda: (torch.randn(2, 3, 4), torch.randn(2, 4, 5))),
    "conv": (
        lambda x, w: (F.conv2d(x, w, stride=2, padding=1), F.relu(F.conv2d(x, w))),
        lambda: (torch.randn(2, 3, 9, 9), torch.randn(4, 3, 3, 3)),
    ),
    "norms": (
        lambda x, w: (F.layer_norm(x, (5,), w), F.group_norm(x.reshape(2, 4, 5), 2)),
        lambda: (torch.randn(2, 4, 5), torch.randn(5)),
    ),
}


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_families(case: str, dynamic: bool, cache_dir: Path) -> None:
    fn, make = CASES[case]
    torch.manual_seed(0)
    check(fn, make(), cache_dir, dynamic, tol=1e-4)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("model", [ResNet18, MobileNetLike])
def test_models_forward(model: type, dynamic: bool, cache_dir: Path) -> None:
    torch.manual_seed(0)
    m = model().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        check(m, (x,), cache_dir, dynamic, tol=1e-3)


@pytest.mark.parametrize("dynamic", [False, True])
def test_training_step(dynamic: bool, cache_dir: Path) -> None:
    """One SGD step of the small CNN: loss, gradients and updated weights match eager."""

    def step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        return loss

    torch.manual_seed(0)
    eager_model = SmallCNN()
    kiln_model = SmallCNN()
    kiln_model.load_state_dict(eager_model.state_dict())
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 2, (8,))
    compiled = torch.compile(
        step, backend=kiln.torch.backend(cache_dir=str(cache_dir)), dynamic=dynamic
    )
    for _ in range(2):
        torch.testing.assert_close(
            compiled(kiln_model, x, y), step(eager_model, x, y), rtol=1e-4, atol=1e-5
        )
    for pk, pe in zip(kiln_model.parameters(), eager_model.parameters()):
        torch.testing.assert_close(pk, pe, rtol=1e-4, atol=1e-5)


def test_kiln_compiled_it(cache_dir: Path) -> None:
    """The fused chain runs in kiln (a miss, then kiln's own specialisation), not in eager."""
    fn, make = CASES["elementwise"]
    compiled = torch.compile(fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)))
    compiled(*make())
    assert counters["kiln"]["miss"] == 1
