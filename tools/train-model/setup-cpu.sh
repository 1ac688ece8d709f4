#!/usr/bin/env bash
# Dependencies of tools/train-model on Debian 12 without a GPU (run as root, from anywhere):
#   - python3-torch (PyTorch 1.13, CPU), python3-regex, python3-numpy from Debian, for /usr/bin/python3
#   - OpenBLAS, unpacked privately into .cache/openblas (the system is not changed): Debian's torch links the generic
#     reference BLAS (libblas.so.3, about 1 GFLOP/s here); with OpenBLAS first on LD_LIBRARY_PATH a 1024^3 matmul is
#     10x faster. Prints the line to export.
# On a GPU machine use a CUDA build of PyTorch 2.x and `pip install regex numpy` instead; none of this is needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'import regex' 2>/dev/null || need+=(python3-regex)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y "${need[@]}"
fi
dir="$root/.cache/openblas"
lib="$dir/root/usr/lib/x86_64-linux-gnu/openblas-serial"
if [ ! -f "$lib/libblas.so.3" ]; then
  mkdir -p "$dir"
  (cd "$dir" && apt-get download libopenblas0-serial && dpkg-deb -x libopenblas0-serial_*.deb root)
fi
echo "export LD_LIBRARY_PATH=$lib"
