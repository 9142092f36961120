"""Arrays at the boundary: NumPy arrays and torch tensors to DLPack capsules and back.

Inputs are borrowed: a C-contiguous, writable array's memory reaches the kernels as is; a
non-contiguous or read-only one is copied once (counted in ``BOUNDARY``). Outputs are kiln's
buffers, handed to ``numpy.from_dlpack``/``torch.from_dlpack`` without a copy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from kiln import _native

BOUNDARY = {"contiguous_copies": 0}


def _torch() -> Any:
    """The torch module if the caller has imported it (kiln never imports it itself here)."""
    return sys.modules.get("torch")


def _is_torch(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def wants_torch(inputs: Sequence[Any]) -> bool:
    return any(_is_torch(x) for x in inputs)


def _copied(x: Any) -> Any:
    BOUNDARY["contiguous_copies"] += 1
    return x


def to_capsule(x: Any, what: str, writable: bool = False) -> Any:
    """A DLPack capsule over ``x``'s memory (copying once only where it must)."""
    if _is_torch(x):
        t = x.detach()
        if t.device.type != "cpu":
            raise _native.InputError(
                f"{what}: a {t.device.type} tensor; kiln's Python API takes CPU tensors"
            )
        if not t.is_contiguous():
            if writable:
                raise _native.InputError(f"{what}: out= tensors must be contiguous")
            t = _copied(t.contiguous())
        return t.__dlpack__()
    a = np.asarray(x)
    if not a.flags.c_contiguous or (not writable and not a.flags.writeable):
        if writable:
            raise _native.InputError(f"{what}: out= arrays must be C-contiguous and writable")
        # NumPy refuses to export read-only arrays through DLPack.
        a = _copied(np.ascontiguousarray(a).copy())
    return a.__dlpack__()


def from_kiln(array: Any, as_torch: bool) -> Any:
    """A kiln output as a NumPy array or torch tensor, without a copy."""
    if as_torch:
        return _torch().from_dlpack(array)
    return np.from_dlpack(array)
