#!/usr/bin/env bash
# Makes WebGPU usable on a machine without a GPU (Debian 12), for Dawn in Node and for Chromium:
#   - libvulkan1 and chromium from Debian (chromium ships the SwiftShader Vulkan driver; also the e2e browser);
#   - gcc and libvulkan-dev (the out-of-memory test builds a Vulkan layer);
#   - Mesa 25 lavapipe (a faster CPU Vulkan driver) from bookworm-backports, unpacked into .cache/lavapipe without
#     touching the system (Debian 12's own Mesa 22 lavapipe is rejected by Dawn).
# Needs root for apt-get. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
# lavapipe's shared-library dependencies (those of Debian's mesa-vulkan-drivers)
for p in libllvm15 libdrm2 libelf1 libexpat1 libwayland-client0 libx11-xcb1 libxcb-dri3-0 libxcb-present0 libxcb-randr0 \
         libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb1 libxshmfence1 libzstd1 zlib1g; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# python3-onnx (with numpy): tools/export-transformersjs writes pie-code-tiny for transformers.js, for
# test/gpu/peers.test.ts and bench/peers.mjs
dpkg -s python3-onnx >/dev/null 2>&1 || need+=(python3-onnx)
# a C compiler and the Vulkan headers: test/gpu/out-of-memory.test.ts builds a Vulkan layer that gives the driver less
# memory (test/helpers/vk-memory-cap.c)
for p in gcc libc6-dev libvulkan-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-cpu-gpu: apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

lvp="$root/.cache/lavapipe"
if [ ! -f "$lvp/lvp_icd.json" ]; then
  echo "setup-cpu-gpu: fetching Mesa lavapipe from bookworm-backports into .cache/lavapipe"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$lvp"
  echo "deb http://deb.debian.org/debian bookworm-backports main" > "$tmp/sources.list"
  o=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
  if apt-get "${o[@]}" update -qq && (cd "$tmp" && apt-get "${o[@]}" download mesa-vulkan-drivers >/dev/null); then
    dpkg-deb -x "$tmp"/mesa-vulkan-drivers_*.deb "$lvp/root"
    so=$(find "$lvp/root" -name libvulkan_lvp.so | head -n 1)
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' "$so" > "$lvp/lvp_icd.json"
    echo "setup-cpu-gpu: lavapipe ready ($so)"
  else
    echo "setup-cpu-gpu: could not fetch lavapipe; SwiftShader will be used" >&2
  fi
  rm -rf "$tmp"
fi
