"""Training through ``torch.compile(backend="kiln")``: AOTAutograd's backward graph of a conv
layer has ``aten.convolution_backward``, which kiln compiles (``convolution_backward_input``
/ ``_weight`` and a sum for the bias); the gradients must equal eager PyTorch's."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

import kiln._aten  # noqa: E402
import kiln.torch  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()


@pytest.fixture
def translated(monkeypatch: pytest.MonkeyPatch) -> list:
    """The kiln text of every partition kiln compiles."""
    texts: list = []
    real = kiln._aten.translate

    def spy(name, gm):
        t = real(name, gm)
        texts.append(t.text)
        return t

    monkeypatch.setattr(kiln._aten, "translate", spy)
    return texts


def layer(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "conv2d":
        return torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=torch.float64)
    if kind == "conv1d_groups":
        return torch.nn.Conv1d(4, 6, 4, padding="same", groups=2, dtype=torch.float64)
    return torch.nn.ConvTranspose2d(
        4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dtype=torch.float64
    )


SHAPES = {"conv2d": (2, 3, 7, 8), "conv1d_groups": (3, 4, 9), "conv_transpose2d": (2, 4, 3, 5)}


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_one_conv_layer_trains_like_eager(cache_dir: Path, translated: list, kind: str) -> None:
    eager, compiled = layer(kind), layer(kind)
    step = torch.compile(compiled, backend=kiln.torch.backend(cache_dir=str(cache_dir)))
    opt_e = torch.optim.SGD(eager.parameters(), lr=0.1)
    opt_c = torch.optim.SGD(compiled.parameters(), lr=0.1)
    for i in range(2):
        x = torch.randn(
            *SHAPES[kind],
            generator=torch.Generator().manual_seed(i),
            dtype=torch.float64,
            requires_grad=True,
        )
        xc = x.detach().clone().requires_grad_(True)
        for model, inp, opt in ((eager, x, opt_e), (step, xc, opt_c)):
            opt.zero_grad()
            (model(inp) ** 2).sum().backward()
        torch.testing.assert_close(xc.grad, x.grad)
        for pe, pc in zip(eager.parameters(), compiled.parameters()):
            torch.testing.assert_close(pc.grad, pe.grad)
        opt_e.step()
        opt_c.step()
    assert any("convolution_backward_weight" in t for t in translated), translated
