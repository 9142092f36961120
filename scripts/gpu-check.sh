#!/usr/bin/env bash
# GPU checks for kiln-cuda, in two steps:
#   here (no GPU):        scripts/gpu-check.sh            builds the test binaries, copies them to .gpu/
#   on the device machine: scripts/gpu-check.sh --device  runs them and prints a table
# With the device tool: run(command="bash scripts/gpu-check.sh --device", carry=[".gpu"]).
# .gpu/ must be git-ignored (it is carried, not committed). The device machine has the driver
# and a libnvrtc (CUDA toolkit or the nvidia-cuda-nvrtc wheel); --device finds the latter.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu
tests=(gpu_runtime gpu_library device_errors nvrtc_compile nvrtc_library cuda_backend)

find_nvrtc() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $(python3 -c 'import sys, glob; print("\n".join(d for p in sys.path for d in glob.glob(p + "/nvidia/*/lib")))' 2>/dev/null); do
    ls "$d"/libnvrtc.so* >/dev/null 2>&1 && { echo "$d"; return 0; }
  done
  return 1
}

if [ "${1:-}" != "--device" ]; then
  rm -rf "$out" && mkdir -p "$out"
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
  cargo test -p kiln-cuda -p kiln --release --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' > "$out/binaries.txt"
  for t in "${tests[@]}"; do
    exe=$(awk -v t="$t" '$1 == t { print $2 }' "$out/binaries.txt")
    [ -n "$exe" ] || { echo "gpu-check: no test binary for $t" >&2; exit 1; }
    cp "$exe" "$out/$t"
    command -v strip >/dev/null && strip "$out/$t"  # keeps what is carried small
    echo "gpu-check: $exe -> $out/$t"
  done
  cargo build --release --example cuda_bench
  cp "$CARGO_TARGET_DIR/release/examples/cuda_bench" "$out/cuda_bench"
  command -v strip >/dev/null && strip "$out/cuda_bench"
  du -sh "$out"
  exit 0
fi

# --device: on the machine with the GPU.
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
if lib=$(find_nvrtc); then
  # cudarc dlopens libnvrtc.so / .so.12 / ...: give it an unversioned name for any version.
  link=/tmp/kiln-nvrtc && mkdir -p "$link"
  real=$(ls "$lib"/libnvrtc.so* | grep -v builtins | sort | tail -n 1)
  ln -sf "$real" "$link/libnvrtc.so"
  export LD_LIBRARY_PATH="$link:$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "libnvrtc: $real"
else
  echo "libnvrtc: not found (NVRTC tests will skip)"
fi
# libcublas (library steps): kiln finds it by name on the loader's path or in the nvidia-cublas
# wheel; a CUDA toolkit's copy beside no libnvrtc is added to the path here.
for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if ls "$d"/libcublas.so* >/dev/null 2>&1; then
    export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "libcublas: $(ls "$d"/libcublas.so* | sort | tail -n 1)"
    break
  fi
done
results=()
for t in "${tests[@]}"; do
  log="${OUT:-/tmp}/$t.log"
  set +e
  "$out/$t" --test-threads=1 --nocapture >"$log" 2>&1
  rc=$?
  set -e
  summary=$(grep -E '^test result:' "$log" | tail -n 1)
  skips=$(grep -c '^skipped:' "$log" || true)
  results+=("$(printf '%-15s rc=%-3s skipped=%-2s %s' "$t" "$rc" "$skips" "$summary")")
  grep -E 'panicked|FAILED|^ran |element' "$log" | head -n 20 || true
done
echo
printf '%s\n' "${results[@]}"
echo
echo "cuda_bench:"
"$out/cuda_bench" --json 2>&1 | tee "${OUT:-/tmp}/cuda_bench.json"
