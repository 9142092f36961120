"""ONNX Runtime on the models examples/onnx_bench.rs times: session creation (a fresh
session per sample: graph optimisation and kernel setup, the work ORT repeats at every start)
inference latency at batch 1 and 8 (median of 10 after one warm-up), and at batch 1 after
300 ms idle (median of 5: what a service with spaced requests sees), as JSON lines. Run in
the same hour as the kiln bench and compare ratios.

    python3 scripts/onnx_peers.py [MODELS_DIR]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

EXPORTED = ["resnet18", "mobilenet_v2", "squeezenet", "bert_layer"]
REPEATS = 10
IDLE_S = 0.3
IDLE_REPEATS = 5


def shape_at(session: ort.InferenceSession, batch: int) -> list[int]:
    dims = session.get_inputs()[0].shape
    return [d if isinstance(d, int) else (batch if i == 0 else 1) for i, d in enumerate(dims)]


def latency(session: ort.InferenceSession, feed: dict, repeats: int, pause_s: float) -> float:
    """Median ms of `repeats` runs, each after `pause_s` seconds without work."""
    times = []
    for _ in range(repeats):
        if pause_s:
            time.sleep(pause_s)
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench(name: str, path: str, dynamic: bool) -> dict:
    opts = ort.SessionOptions()
    create = []
    for _ in range(5):
        t = time.perf_counter()
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        create.append((time.perf_counter() - t) * 1e3)
    feed_name = session.get_inputs()[0].name
    row = {"model": name, "ort_version": ort.__version__, "session_create_ms": statistics.median(create),
           "session_create_min_ms": min(create)}
    for b in (1, 8) if dynamic else (1,):
        x = np.random.default_rng(0).uniform(-1, 1, shape_at(session, b)).astype(np.float32)
        session.run(None, {feed_name: x})
        row[f"run_b{b}_ms"] = latency(session, {feed_name: x}, REPEATS, 0.0)
        if b == 1:
            row["run_b1_after_idle_ms"] = latency(session, {feed_name: x}, IDLE_REPEATS, IDLE_S)
    return row


def main(models: str) -> None:
    ort.set_default_logger_severity(3)  # the light models' unused initializers warn on every load
    cases = [(m, os.path.join(models, f"{m}.onnx"), True) for m in EXPORTED]
    cases = [c for c in cases if os.path.exists(c[1])]
    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    if os.path.exists(light):
        cases.append(("light_resnet50", light, False))
    for name, path, dynamic in cases:
        print(json.dumps(bench(name, path, dynamic)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/onnx-models")
