#!/usr/bin/env bash
# Builds the CUDA variant of the addon (one architecture) and runs the GPU checks and the
# GPU benchmark (bench/gpu.ts). Made for a lent GPU machine that has no network: what it
# lacks travels in .cache/gpu/ (made by scripts/gpu-pack.sh): a node binary, the vendored
# llama.cpp sources, node_modules. Output goes to $OUT (default .cache/gpu-out).
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

step "machine"
nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv || true
nproc; free -g | head -2

step "node"
if ! command -v node >/dev/null; then
  mkdir -p /tmp/llama-napi-node && tar -xJf .cache/gpu/node.tar.xz -C /tmp/llama-napi-node
  export PATH=/tmp/llama-napi-node/bin:$PATH
fi
node --version || exit 1
[ -d node_modules ] || tar -xJf .cache/gpu/node_modules.tar.xz
if [ ! -f vendor/llama.cpp/include/llama.h ]; then
  mkdir -p vendor/llama.cpp
  tar -xJf .cache/gpu/llama-src.tar.xz -C vendor/llama.cpp
  tar -xJf .cache/gpu/llama-models.tar.xz -C vendor/llama.cpp
fi

step "toolchain"
for tool in cmake ninja g++ nvcc; do printf '%s: ' "$tool"; command -v "$tool" || echo missing; done
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || find / -xdev -name nvcc -type f -perm -u+x 2>/dev/null | head -1)
CUBLAS_H=$(find / -xdev -name cublas_v2.h 2>/dev/null | head -1)
CUBLAS_SO=$(find / -xdev -name 'libcublas.so*' 2>/dev/null | head -1)
CUDART_SO=$(find / -xdev -name 'libcudart.so*' 2>/dev/null | head -1)
echo "nvcc=$NVCC cublas_v2.h=$CUBLAS_H libcublas=$CUBLAS_SO libcudart=$CUDART_SO"
[ -n "$NVCC" ] && "$NVCC" --version | tail -2
if [ -z "$NVCC" ] || [ -z "$CUBLAS_H" ] || [ -z "$CUBLAS_SO" ]; then
  echo "no usable CUDA toolkit (nvcc + cuBLAS) on this machine"
  exit 2
fi

# One toolkit root that CMake's FindCUDAToolkit accepts: nvcc's own toolkit plus cuBLAS and
# the runtime wherever they live (pip wheels keep each library in its own folder and ship
# only versioned .so names).
ROOT=/tmp/llama-napi-cuda
rm -rf "$ROOT" && mkdir -p "$ROOT/include" "$ROOT/lib64"
TK=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
ln -s "$TK/bin" "$ROOT/bin"
[ -d "$TK/nvvm" ] && ln -s "$TK/nvvm" "$ROOT/nvvm"
for inc in "$TK/include" "$TK"/targets/*/include "$(dirname "$CUBLAS_H")" "$(dirname "$(find / -xdev -name cuda_runtime_api.h 2>/dev/null | head -1)")"; do
  [ -d "$inc" ] || continue
  for f in "$inc"/*; do [ -e "$ROOT/include/$(basename "$f")" ] || ln -s "$f" "$ROOT/include/"; done
done
for lib in "$TK/lib64" "$TK/lib" "$TK"/targets/*/lib "$(dirname "$CUBLAS_SO")" "$(dirname "$CUDART_SO")"; do
  [ -d "$lib" ] || continue
  for f in "$lib"/*; do [ -e "$ROOT/lib64/$(basename "$f")" ] || ln -s "$f" "$ROOT/lib64/"; done
done
for name in cublas cublasLt cudart; do
  if [ ! -e "$ROOT/lib64/lib$name.so" ]; then
    v=$(ls "$ROOT/lib64/lib$name.so."* 2>/dev/null | head -1)
    [ -n "$v" ] && ln -s "$v" "$ROOT/lib64/lib$name.so"
  fi
done
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
