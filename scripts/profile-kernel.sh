#!/usr/bin/env bash
# Instruction-level profile of one kernel_bench case's JIT kernels, with `perf` (sampling on
# the cpu-clock, so it works in VMs without hardware counters).
#
#   scripts/profile-kernel.sh CASE [THREADS]      e.g. scripts/profile-kernel.sh max_pool 1
#
# `perf record` sets PERF_BUILDID_DIR, and cranelift-jit then writes /tmp/perf-<pid>.map, so
# samples inside kernels are attributed to `kiln_kernel_<n>`. The script maps each sample to
# its offset in the kernel and prints the kernel's disassembly (from `kernel_bench --code`,
# the same bytes) with the share of samples per instruction. Samples land on the instruction
# after a slow one (skid): read a hot line as "waiting for what precedes it".
set -euo pipefail
case_name=${1:?usage: scripts/profile-kernel.sh CASE [THREADS]}
threads=${2:-2}
target=${CARGO_TARGET_DIR:-target}
bench="$target/release/examples/kernel_bench"
cargo build --release --example kernel_bench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RAYON_NUM_THREADS=$threads perf record -q -F 5000 -o "$work/perf.data" \
    "$bench" --only "$case_name" --reps 31 >&2
"$bench" --only "$case_name" --code "$work/code" >/dev/null
perf script -i "$work/perf.data" -F pid,ip,sym 2>/dev/null >"$work/samples.txt"
python3 - "$work" <<'PY'
import collections, glob, os, subprocess, sys
work = sys.argv[1]
samples = [l.split() for l in open(os.path.join(work, "samples.txt"))]
pids = {s[0] for s in samples if len(s) >= 3 and s[2].startswith("kiln_kernel_")}
starts = {}
for pid in pids:
    path = f"/tmp/perf-{pid}.map"
    if os.path.exists(path):
        for line in open(path):
            start, size, name = line.split()[:3]
            starts[name] = int(start, 16)
total = len(samples)
hits = collections.defaultdict(collections.Counter)
for s in samples:
    if len(s) >= 3 and s[2] in starts:
        hits[s[2]][int(s[1], 16) - starts[s[2]]] += 1
codes = sorted(glob.glob(os.path.join(work, "code", "*.bin")))
for i, path in enumerate(codes):
    name = f"kiln_kernel_{i}"
    h = hits.get(name, collections.Counter())
    n = sum(h.values())
    print(f"== {os.path.basename(path)} ({name}): {n} of {total} samples ({100 * n / max(total, 1):.1f}%)")
    dis = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", path],
                         capture_output=True, text=True).stdout
    for line in dis.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        off = int(parts[0].strip()[:-1], 16)
        share = 100 * h[off] / max(n, 1)
        print(f"{off:6x} {share:5.1f}%  {parts[2]}")
PY
