"""Exports small torchvision-like models and a BERT-style encoder layer with
``torch.onnx.export`` and a dynamic batch dim, for tests/onnx_models.rs and
examples/onnx_bench.rs (torchvision is not installed here: the modules are written out).

    python3 scripts/onnx_export_models.py target/tmp/onnx-models

Writes ``<dir>/<model>.onnx`` and, for each batch size B in (1, 3, 8), ONNX Runtime's result on a
seeded random input: ``<dir>/<model>/b<B>/input_0.pb`` and ``output_0.pb`` (TensorProto, as the
ONNX test suites ship them). The .onnx files are generated, never committed.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn
import torch.nn.functional as F

BATCHES = (1, 3, 8)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 layout (BasicBlock x [2, 2, 2, 2]), at 224x224."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (width 1.0): depthwise convolutions and relu6, at 224x224."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.e1 = nn.Conv2d(squeeze, e1, 1)
        self.e3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.e1(x)), F.relu(self.e3(x))], 1)


class SqueezeNet(nn.Module):
    """torchvision's SqueezeNet 1.1: Fire modules (concat), at 224x224."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.classifier(self.features(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class EncoderLayer(nn.Module):
    """A BERT-style encoder layer: attention whose head split reads the batch and sequence
    sizes at run time (x.shape -> Shape/Gather/Concat/Reshape), softmax, layer_norm, gelu."""

    def __init__(self, d: int = 256, heads: int = 4, ff: int = 1024) -> None:
        super().__init__()
        self.heads, self.dk = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def split(self, t: torch.Tensor) -> torch.Tensor:
        b, s, _ = t.shape
        return t.reshape(b, s, self.heads, self.dk).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        att = torch.softmax(q @ k.transpose(-2, -1) / (self.dk**0.5), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.o(y))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


def models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    return {
        "resnet18": (ResNet18(), (3, 224, 224)),
        "mobilenet_v2": (MobileNetV2(), (3, 224, 224)),
        "squeezenet": (SqueezeNet(), (3, 224, 224)),
        "bert_layer": (EncoderLayer(), (16, 256)),
    }


def randomize_bn(model: nn.Module, g: torch.Generator) -> None:
    # Non-trivial running statistics, so that batch norm is not the identity.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def export(name: str, model: nn.Module, sample: tuple[int, ...], out: str) -> None:
    g = torch.Generator().manual_seed(0)
    randomize_bn(model, g)
    model.eval()
    path = os.path.join(out, f"{name}.onnx")
    x = torch.randn(2, *sample, generator=g)
    torch.onnx.export(
        model, (x,), path, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False,
    )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for b in BATCHES:
        d = os.path.join(out, name, f"b{b}")
        os.makedirs(d, exist_ok=True)
        xb = torch.randn(b, *sample, generator=g).numpy()
        (yb,) = session.run(None, {"x": xb})
        onnx.save_tensor(numpy_helper.from_array(xb, "x"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(np.asarray(yb), "y"), os.path.join(d, "output_0.pb"))


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name, (model, sample) in models().items():
        with torch.no_grad():
            export(name, model, sample, out)
        print(f"{name}: {os.path.join(out, name + '.onnx')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/onnx-models")
