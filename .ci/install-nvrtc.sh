#!/usr/bin/env bash
# Installs libnvrtc from PyPI (no GPU needed) so that kiln-cuda's NVRTC tests compile the
# generated CUDA C instead of skipping:
#     bash .ci/install-nvrtc.sh
# kiln finds the wheel's library by itself (nvidia/cu13/lib/libnvrtc.so.13 today, or
# nvidia/cuda_nvrtc/lib for older wheels) in the site-packages of the active Python
# environment, so nothing needs to be linked or exported; `kiln doctor` says which library
# it loaded. For compatibility with `eval "$(bash .ci/install-nvrtc.sh)"` it prints nothing on
# stdout except a comment. Never fails: without NVRTC the tests print a one-line skip reason.
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
lib=$(ls "$site"/nvidia/cu*/lib/libnvrtc.so* "$site"/nvidia/cuda_nvrtc/lib/libnvrtc.so* 2>/dev/null \
  | grep -v -e builtins -e alt | head -n 1)
if [ -z "$lib" ]; then
  log "libnvrtc not found under $site/nvidia; NVRTC tests will skip"
  exit 0
fi
log "libnvrtc at $lib (kiln finds it there; KILN_NVRTC=$lib names it explicitly)"
echo "# libnvrtc: $lib"
