"""Writes the inputs of ONNX's light test models (which ship only their expected outputs),
with onnx's own generator (seed 0, not random), as tests/onnx_suites.rs expects them:
``<dir>/<model>/input_<i>.pb``.

    python3 scripts/onnx_light_inputs.py target/tmp/onnx-light-inputs
"""

from __future__ import annotations

import glob
import os
import sys

import onnx
from onnx import numpy_helper
from onnx.backend.test.runner import Runner


def main(out: str) -> None:
    data = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    runner = Runner.__new__(Runner)
    for path in sorted(glob.glob(os.path.join(data, "*.onnx"))):
        name = os.path.splitext(os.path.basename(path))[0]
        model = onnx.load(path)
        inits = {i.name for i in model.graph.initializer}
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        inputs = [x for x in model.graph.input if x.name not in inits]
        for i, x in enumerate(inputs):
            value = runner.generate_dummy_data(x, seed=0, name=name, random=False)
            with open(os.path.join(d, f"input_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(value).SerializeToString())
        print(f"{name}: {len(inputs)} input(s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/onnx-light-inputs")
