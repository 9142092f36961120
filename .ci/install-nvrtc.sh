#!/usr/bin/env bash
# Installs libnvrtc from PyPI (no GPU needed) so that kiln-cuda's NVRTC tests compile the
# generated CUDA C instead of skipping, and prints the line that makes cudarc find it:
#     eval "$(bash .ci/install-nvrtc.sh)"
# cudarc (built with cuda-12080) dlopens `libnvrtc.so`, `libnvrtc.so.12`, ... but not the
# wheel's `libnvrtc.so.13`, so an unversioned `libnvrtc.so` link is made next to it.
# Never fails: without NVRTC the tests print a one-line skip reason.
set -u
log() { echo "install-nvrtc: $*" >&2; }
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  log "no $python; NVRTC tests will skip"
  exit 0
fi
"$python" -m pip install -q --disable-pip-version-check nvidia-cuda-nvrtc >&2 2>/dev/null \
  || log "pip install nvidia-cuda-nvrtc failed; NVRTC tests will skip"
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null) || exit 0
lib=$(ls -d "$site"/nvidia/cu*/lib "$site"/nvidia/cuda_nvrtc/lib 2>/dev/null | while read -r d; do
  ls "$d"/libnvrtc.so* >/dev/null 2>&1 && echo "$d"; done | head -n 1)
if [ -z "$lib" ]; then
  log "libnvrtc not found under $site/nvidia; NVRTC tests will skip"
  exit 0
fi
if [ ! -e "$lib/libnvrtc.so" ]; then
  real=$(ls "$lib"/libnvrtc.so.* 2>/dev/null | grep -v builtins | head -n 1)
  [ -n "$real" ] && ln -sf "$(basename "$real")" "$lib/libnvrtc.so" 2>/dev/null \
    || log "could not link $lib/libnvrtc.so"
fi
log "libnvrtc in $lib"
echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
