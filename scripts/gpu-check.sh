#!/usr/bin/env bash
# Builds the CUDA variant of the addon (one architecture) and runs the GPU checks and the
# GPU benchmark (bench/gpu.ts). Made for a lent GPU machine that has no network: what it
# lacks travels in .cache/gpu/ (made by scripts/gpu-pack.sh): a node binary, the vendored
# llama.cpp sources, node_modules, and a relocatable cmake + ninja in case the machine has none. Output goes to $OUT (default .cache/gpu-out).
#
#   CUDA_ARCH=90 bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/.cache/gpu-out}
ARCH=${CUDA_ARCH:-90}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
t0=$(date +%s)
step() { echo "=== [$(($(date +%s) - t0))s] $*"; }
. scripts/cuda-toolkit-root.sh

step "machine"
nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv || true
nproc; free -g | head -2

step "node, cmake, ninja (the carried ones where the machine has none, or too old)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  mkdir -p /tmp/llama-napi-node && tar -xJf .cache/gpu/node.tar.xz -C /tmp/llama-napi-node
  export PATH=/tmp/llama-napi-node/bin:$PATH
fi
node --version || exit 1
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || \
   [ "$(printf '%s\n' 3.18 "$(cmake --version 2>/dev/null | head -1 | awk '{print $3}')" | sort -V | head -1)" != 3.18 ]; then
  tar -xJf .cache/gpu/cmake.tar.xz -C /tmp
  export PATH=/tmp/cmake/bin:$PATH
fi
cmake --version | head -1; ninja --version
[ -d node_modules ] || tar -xJf .cache/gpu/node_modules.tar.xz
if [ ! -f vendor/llama.cpp/include/llama.h ]; then
  mkdir -p vendor/llama.cpp
  tar -xJf .cache/gpu/llama-src.tar.xz -C vendor/llama.cpp
  tar -xJf .cache/gpu/llama-models.tar.xz -C vendor/llama.cpp
fi

step "toolchain"
for tool in cmake ninja g++ nvcc; do printf '%s: ' "$tool"; command -v "$tool" || echo missing; done
# One pass over the file system for every CUDA piece (pip wheels put them in site-packages).
timeout 120 find / \( -path /proc -o -path /sys -o -path /dev -o -path "$PWD" \) -prune -o \
  \( -name nvcc -o -name cublas_v2.h -o -name 'libcublas.so*' -o -name 'libcudart.so*' -o -name cuda_runtime_api.h \) \
  -print 2>/dev/null > "$OUT/cuda-files.txt"
cat "$OUT/cuda-files.txt"
pick() { grep -E "$1" "$OUT/cuda-files.txt" | head -1; }
# The real compiler (a wrapper script elsewhere on PATH would hide the toolkit's root).
NVCC=$(cuda_real_nvcc $(grep -E '/bin/nvcc$' "$OUT/cuda-files.txt") $(command -v nvcc))
CUBLAS_H=$(pick '/cublas_v2\.h$')
CUBLAS_SO=$(pick '/libcublas\.so')
CUDART_SO=$(pick '/libcudart\.so')
RUNTIME_H=$(pick '/cuda_runtime_api\.h$')
echo "nvcc=$NVCC cublas_v2.h=$CUBLAS_H libcublas=$CUBLAS_SO libcudart=$CUDART_SO cuda_runtime_api.h=$RUNTIME_H"
[ -n "$NVCC" ] && "$NVCC" --version | tail -2
if [ -z "$NVCC" ] || [ -z "$CUBLAS_H" ] || [ -z "$CUBLAS_SO" ]; then
  echo "no usable CUDA toolkit (nvcc + cuBLAS) on this machine"
  exit 2
fi

# One toolkit root that CMake's FindCUDAToolkit accepts (scripts/cuda-toolkit-root.sh).
ROOT=/tmp/llama-napi-cuda
cuda_toolkit_root "$ROOT" "$NVCC" "$CUBLAS_H" "$CUBLAS_SO" "$CUDART_SO" "$RUNTIME_H" || exit 2
export LD_LIBRARY_PATH=$ROOT/lib64:${LD_LIBRARY_PATH:-}

step "build (CUDA, sm_$ARCH)"
export LLAMA_NAPI_BACKEND=cuda
export LLAMA_NAPI_CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=$ARCH -DGGML_CUDA_NO_VMM=ON -DLLAMA_NAPI_BENCH_TOOLS=ON -DCUDAToolkit_ROOT=$ROOT -DCMAKE_CUDA_COMPILER=$ROOT/bin/nvcc"
if ! node scripts/build-native.mjs > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  exit 3
fi
tail -2 "$OUT/build.log"
cmake --build build --target llama-bench llama-quantize -j "$(nproc)" > "$OUT/tools.log" 2>&1 || { tail -30 "$OUT/tools.log"; exit 4; }

step "GPU tests and benchmark"
node --import tsx bench/gpu.ts --out "$OUT" ${GPU_BENCH_ARGS:-}
rc=$?
step "done (rc=$rc)"
exit $rc
