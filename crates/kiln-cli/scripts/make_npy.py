#!/usr/bin/env python3
"""Writes a float32 .npy file of a given shape with deterministic values in [-1, 1), using
only the standard library (no NumPy), for trying `kiln run` on a clean machine.

    python3 crates/kiln-cli/scripts/make_npy.py x.npy 2x16x32x32 [SEED]
"""
import struct
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, dims = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    shape = [int(d) for d in dims.split("x")] if dims not in ("", "scalar") else []
    n = 1
    for d in shape:
        n *= d
    state = seed * 0x9E3779B97F4A7C15 + 1
    values = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        values.append((state >> 40) / float(1 << 24) * 2.0 - 1.0)
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape_text
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % n, *values))


if __name__ == "__main__":
    main()
