"""The package's API: parse, compile, call with NumPy arrays, the cache, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import kiln

RELU_EXP = """graph g
input x: f32[N]
y = relu(x)
z = exp(x)
output y, z
"""


def test_numpy_in_numpy_out(compiler: kiln.Compiler) -> None:
    f = compiler.compile(RELU_EXP)
    x = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    y, z = f(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_allclose(z, np.exp(x), rtol=1e-6)


def test_one_output_is_returned_alone(compiler: kiln.Compiler) -> None:
    f = compiler.compile("graph g\ninput a: f64[2]\ninput b: f64[2]\nc = add(a, b)\noutput c")
    c = f(np.array([1.0, 2.0]), np.array([10.0, 20.0]))
    np.testing.assert_array_equal(c, [11.0, 22.0])


def test_a_new_compiler_hits_the_disk_cache(cache_dir: Path) -> None:
    x = np.arange(6, dtype=np.float32) - 3
    first = kiln.Compiler(cache_dir=cache_dir).compile(RELU_EXP)
    first(x)
    assert first.last_report()["outcome"] == "miss"
    second = kiln.Compiler(cache_dir=cache_dir)
    f = second.compile(RELU_EXP)
    y, _ = f(x)
    assert f.last_report()["outcome"] == "hit"
    assert second.counters()["hit"] == 1
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    # One dynamic entry serves another size.
    f(np.ones(11, dtype=np.float32))
    assert f.last_report()["outcome"] in ("hit", "memory")
    stats = second.cache_stats()
    assert stats is not None and stats["entries"] == 1


def test_reset_goes_back_through_the_cache(compiler: kiln.Compiler) -> None:
    f = compiler.compile(RELU_EXP)
    x = np.ones(4, dtype=np.float32)
    f(x)
    f(x)
    assert compiler.counters()["memory"] == 0 or compiler.counters()["miss"] == 1
    f.reset()
    f(x)
    assert f.last_report()["outcome"] == "hit"


def test_outputs_are_kiln_buffers_handed_over() -> None:
    f = kiln.Compiler(cache=False).compile(RELU_EXP)
    raw = f._native.run([np.ones(8, dtype=np.float32).__dlpack__()])
    assert [a.shape for a in raw] == [[8], [8]]
    y = np.from_dlpack(raw[0])
    # The array views kiln's buffer (no copy) and owns no data of its own.
    assert not y.flags.owndata
    np.testing.assert_array_equal(y, np.ones(8, dtype=np.float32))
    with pytest.raises(kiln.InputError, match="already handed"):
        np.from_dlpack(raw[0])


def test_out_arrays_are_written_in_place(compiler: kiln.Compiler) -> None:
    f = compiler.compile(RELU_EXP)
    x = np.array([-2.0, 3.0], dtype=np.float32)
    y = np.full(2, 7.0, dtype=np.float32)
    z = np.zeros(2, dtype=np.float32)
    ry, rz = f(x, out=[y, z])
    assert ry is y and rz is z
    np.testing.assert_array_equal(y, [0.0, 3.0])
    np.testing.assert_allclose(z, np.exp(x), rtol=1e-6)


def test_contiguous_inputs_are_not_copied(compiler: kiln.Compiler) -> None:
    f = compiler.compile(RELU_EXP)
    before = kiln.counters()["contiguous_copies"]
    f(np.ones(16, dtype=np.float32))
    assert kiln.counters()["contiguous_copies"] == before
    strided = np.arange(32, dtype=np.float32)[::2]
    y, _ = f(strided)
    assert kiln.counters()["contiguous_copies"] == before + 1
    np.testing.assert_array_equal(y, strided)


def test_errors_are_typed() -> None:
    with pytest.raises(kiln.ParseError, match="^2:9: expected .:."):
        kiln.parse("graph g\ninput x f32[2]\noutput x")
    assert issubclass(kiln.ParseError, kiln.KilnError)
    f = kiln.Compiler(cache=False).compile(RELU_EXP)
    with pytest.raises(kiln.InputError, match="dtype"):
        f(np.ones(3, dtype=np.float64))
    with pytest.raises(kiln.KilnError, match="inputs"):
        f()
    with pytest.raises(kiln.InputError, match="backend"):
        kiln.Compiler(backend="tpu")
    with pytest.raises(kiln.InputError, match="unsupported element type"):
        f(np.ones(3, dtype=np.int8))


def test_the_gil_is_released_while_kernels_run() -> None:
    g = "graph g\ninput x: f32[N]\na = exp(x)\nb = sin(a)\nc = exp(b)\ny = sin(c)\noutput y"
    f = kiln.Compiler(cache=False).compile(g)
    x = np.random.default_rng(0).standard_normal(20_000_000).astype(np.float32)
    f(x[:1000])  # compile first: only the run is timed below
    ticks: list = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.01)
    start = time.perf_counter()
    f(x)
    end = time.perf_counter()
    stop.set()
    t.join()
    assert end - start > 0.02, "the call was too short to tell"
    inside = [s for s in ticks if start + 0.005 < s < end - 0.005]
    assert inside, "no other thread ran while kiln ran: the GIL was held"


def test_explain_says_what_the_cache_would_do(compiler: kiln.Compiler) -> None:
    f = compiler.compile(RELU_EXP)
    assert f.explain([4])["verdict"] == "miss"
    f(np.ones(4, dtype=np.float32))
    e = f.explain([9])
    assert e["verdict"] == "hit" and e["key_exists"]
    assert any(c["name"] == "graph" for c in e["components"]) or e["components"]


def test_parameters_are_bound_once_and_share_one_entry(compiler: kiln.Compiler) -> None:
    g = (
        "graph affine\ninput x: f32[N, 2]\nparam w: f32[2]\nparam b: f32[2]\n"
        "t = mul(x, w)\ny = add(t, b)\noutput y"
    )
    f = compiler.compile(g)
    x = np.ones((3, 2), dtype=np.float32)
    m1 = f.bind({"w": np.array([2.0, 3.0], dtype=np.float32), "b": np.zeros(2, np.float32)})
    m2 = f.bind({"w": np.array([-1.0, 1.0], dtype=np.float32), "b": np.ones(2, np.float32)})
    np.testing.assert_array_equal(m1(x), np.tile([2.0, 3.0], (3, 1)))
    np.testing.assert_array_equal(m2(x), np.tile([0.0, 2.0], (3, 1)))
    assert compiler.counters()["miss"] == 1
    with pytest.raises(kiln.InputError, match="w"):
        f.bind({"w": np.ones(3, np.float32), "b": np.zeros(2, np.float32)})
