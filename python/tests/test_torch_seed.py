"""The seed's FX-graph-cache tests (test/inductor/test_codecache.py), ported to
``backend="kiln"``: same structure and asserts, kiln's counters instead of Inductor's."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from torch._dynamo.utils import counters  # noqa: E402

import kiln  # noqa: E402
import kiln.torch  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()
    counters.clear()


def kiln_counts() -> tuple:
    return counters["kiln"]["miss"], counters["kiln"]["hit"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dynamic", [False, True])
def test_cache_load_function(cache_dir: Path, dtype: torch.dtype, dynamic: bool) -> None:
    def fn(x: torch.Tensor, y: torch.Tensor) -> tuple:
        return (x * 2, y @ y)

    a = torch.rand(25, dtype=dtype)
    b = torch.rand(5, 5, dtype=dtype)
    c = a.view(5, 5)
    compiled_fn = torch.compile(
        fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)), dynamic=dynamic
    )

    # A first call should miss in the cache.
    assert_equal(fn(a, b), compiled_fn(a, b))
    miss, hit = kiln_counts()
    assert miss >= 1 and hit == 0

    # A second call should hit (a reset forces compilation).
    counters.clear()
    torch._dynamo.reset()
    assert_equal(fn(a, b), compiled_fn(a, b))
    miss, hit = kiln_counts()
    assert miss == 0 and hit >= 1

    # A view of a tensor is no different.
    counters.clear()
    torch._dynamo.reset()
    assert_equal(fn(a, c), compiled_fn(a, c))
    miss, hit = kiln_counts()
    assert miss == 0 and hit >= 1


def assert_equal(expected: tuple, found: tuple) -> None:
    assert len(expected) == len(found)
    for e, f in zip(expected, found):
        tol = 1e-2 if e.dtype in (torch.bfloat16, torch.float16) else 1e-5
        torch.testing.assert_close(f, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dynamic", [False, True])
def test_cache_load_model(cache_dir: Path, dtype: torch.dtype, dynamic: bool) -> None:
    class MyModelConv2d(torch.nn.Module):
        def __init__(self, dim: int = 512) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, dim, kernel_size=3, stride=2, bias=False)
            self.conv2 = torch.nn.Conv2d(dim, dim, kernel_size=3, stride=2, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv1(x)
            torch._dynamo.graph_break()
            x = self.conv2(x)
            return x

    def fn(mod: torch.nn.Module, x: torch.Tensor) -> list:
        mod.zero_grad()
        mod(x).sum().backward()
        return [p.grad for p in mod.parameters()]

    backend = kiln.torch.backend(cache_dir=str(cache_dir))
    compiled_fn = torch.compile(fn, backend=backend, dynamic=dynamic)
    mod = MyModelConv2d().to(dtype=dtype)
    inp = torch.randn(2, 3, 16, 16, dtype=dtype)

    # The first call should see all cache misses.
    counters.clear()
    grads1 = compiled_fn(mod, inp)
    assert counters["kiln"]["miss"] > 0
    assert counters["kiln"]["hit"] == 0

    # The second should see all hits (reset dynamo to force compilation).
    counters.clear()
    torch._dynamo.reset()
    grads2 = compiled_fn(mod, inp)
    assert counters["kiln"]["miss"] == 0
    assert counters["kiln"]["hit"] > 0

    # And the results should be the same, and PyTorch's.
    for g1, g2 in zip(grads1, grads2):
        torch.testing.assert_close(g1, g2)
    eager = fn(mod, inp)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    for g, e in zip(grads1, eager):
        torch.testing.assert_close(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cache_load_with_guards_static_bounds(cache_dir: Path, dtype: torch.dtype) -> None:
    # Pooling guards and makes the height/width static, as in Inductor.
    def fn(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, [5, 7])

    compiled_fn = torch.compile(
        fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)), dynamic=True
    )
    for shape in ((1, 64, 8, 9), (1, 64, 9, 10), (1, 64, 10, 11)):
        x = torch.rand(shape, dtype=dtype)
        # No dynamo reset: each new shape violates the guards and recompiles (a miss).
        counters.clear()
        res1 = compiled_fn(x)
        assert counters["kiln"]["miss"] > 0
        assert counters["kiln"]["hit"] == 0
        # A second call should hit.
        counters.clear()
        torch._dynamo.reset()
        res2 = compiled_fn(x)
        assert counters["kiln"]["miss"] == 0
        assert counters["kiln"]["hit"] > 0
        torch.testing.assert_close(res1, res2)
        torch.testing.assert_close(res1, fn(x), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cache_load_with_guards_int32_bounds(cache_dir: Path, dtype: torch.dtype) -> None:
    """The seed's 47000 x 47001 sizes crossing int32, scaled down with a lowered index limit
    (kiln's 32-bit indexing guard is `numel < index_limit`)."""

    def fn(x: torch.Tensor, y: torch.Tensor) -> tuple:
        return (x + x, y + y)

    backend = kiln.torch.backend(cache_dir=str(cache_dir), index_limit=1000)
    compiled_fn = torch.compile(fn, backend=backend, dynamic=True)
    shapes = (((5, 6), (7, 8)), ((5, 6), (47, 48)), ((47, 48), (5, 6)))
    for a_shape, b_shape in shapes:
        a = torch.rand(a_shape, dtype=dtype)
        b = torch.rand(b_shape, dtype=dtype)
        counters.clear()
        res1 = compiled_fn(a, b)
        assert counters["kiln"]["miss"] > 0
        assert counters["kiln"]["hit"] == 0
        counters.clear()
        torch._dynamo.reset()
        res2 = compiled_fn(a, b)
        assert counters["kiln"]["miss"] == 0
        assert counters["kiln"]["hit"] > 0
        assert_equal(res1, res2)
        assert_equal(fn(a, b), res1)


def test_cache_clear(cache_dir: Path) -> None:
    def fn(x: torch.Tensor, y: torch.Tensor) -> tuple:
        return (x * y,)

    a = torch.rand(5, 5)
    b = torch.rand(5, 5)
    compiled_fn = torch.compile(fn, backend=kiln.torch.backend(cache_dir=str(cache_dir)))

    # A first call should miss in the cache.
    assert_equal(fn(a, b), compiled_fn(a, b))
    assert kiln_counts() == (1, 0)

    # A second call should hit.
    counters.clear()
    torch._dynamo.reset()
    assert_equal(fn(a, b), compiled_fn(a, b))
    assert kiln_counts() == (0, 1)

    # Clear the cache; now we should miss.
    counters.clear()
    torch._dynamo.reset()
    kiln.torch.clear_cache(str(cache_dir))
    assert_equal(fn(a, b), compiled_fn(a, b))
    assert kiln_counts() == (1, 0)


def test_backend_by_name(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``backend="kiln"`` resolves through the package's entry point."""
    from torch._dynamo.backends.registry import lookup_backend

    assert lookup_backend("kiln") is kiln.torch.kiln_backend
    x = torch.randn(8)
    torch.testing.assert_close(torch.compile(torch.sin, backend="kiln")(x), torch.sin(x))
